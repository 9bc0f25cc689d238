/* Context switch for aarch64, AAPCS64.
 *
 * weft__swap(from, to) saves what a callee must preserve (x19-x28, the frame
 * pointer x29, the link register x30, the low halves d8-d15 of v8-v15, and
 * FPCR) in a 176-byte frame on the stack being left, stores sp in from->sp,
 * and restores the same from to->sp. Returning through x30 resumes the other
 * context.
 *
 * A fresh context (weft__ctx_make in ctx.c) holds x30 =
 * weft__task_start and x19 = the task.
 */
    .text
    .globl  weft__swap
    .hidden weft__swap
    .type   weft__swap, %function
    .p2align 4
weft__swap:
    .cfi_startproc
    sub     sp, sp, #176
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8,  d9,  [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mrs     x9, fpcr
    str     x9, [sp, #160]
    mov     x9, sp
    str     x9, [x0]
    ldr     x9, [x1]
    mov     sp, x9
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8,  d9,  [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    ldr     x9, [sp, #160]
    msr     fpcr, x9
    add     sp, sp, #176
    ret
    .cfi_endproc
    .size   weft__swap, .-weft__swap

/* First code a task runs; x29 = 0 ends frame-pointer walks here. */
    .globl  weft__task_start
    .hidden weft__task_start
    .type   weft__task_start, %function
    .p2align 4
weft__task_start:
    .cfi_startproc
    .cfi_undefined x30
    mov     x0, x19
    bl      weft__task_main
    brk     #0
    .cfi_endproc
    .size   weft__task_start, .-weft__task_start

    .section .note.GNU-stack,"",%progbits

/* Context switch for x86_64, System V ABI.
 *
 * weft__swap(from, to) pushes what the ABI says a callee must preserve (rbx,
 * rbp, r12-r15, the MXCSR control bits and the x87 control word), stores the
 * stack pointer in from->sp, loads to->sp and pops the same set. Caller-saved
 * registers are already dead across the call, so nothing else needs saving.
 *
 * A fresh context (weft__ctx_make in ctx.c) is laid out as if it had
 * been switched out just before entering weft__task_start, with the task in
 * r12.
 */
    .text
    .globl  weft__swap
    .hidden weft__swap
    .type   weft__swap, @function
    .p2align 4
weft__swap:
    .cfi_startproc
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    subq    $8, %rsp
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movl    (%rsp), %eax
    movzwl  4(%rsp), %ecx
    movq    %rsp, (%rdi)
    movq    (%rsi), %rsp
    /* Loading a control word stalls the FP pipeline; tasks almost never
     * change them, so load only when they differ. */
    cmpl    (%rsp), %eax
    jne     1f
    cmpw    4(%rsp), %cx
    jne     1f
2:  addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    /* A plain ret, not pop+jmp as some libraries do: the loop switches from
     * one call site (weft__schedule), so the return predictor's guess, the
     * caller of this call, is exactly where the other task resumes, and the
     * predictor stays in step for the rets that follow. pop+jmp measured
     * 33 ns a loop switch against 13 with ret. */
    ret
1:  ldmxcsr (%rsp)
    fldcw   4(%rsp)
    jmp     2b
    .cfi_endproc
    .size   weft__swap, .-weft__swap

/* First code a task runs: rbp is 0, so frame-pointer walks (perf, gdb) stop
 * here; the undefined return address stops DWARF unwinders. */
    .globl  weft__task_start
    .hidden weft__task_start
    .type   weft__task_start, @function
    .p2align 4
weft__task_start:
    .cfi_startproc
    .cfi_undefined rip
    movq    %r12, %rdi
    call    weft__task_main
    ud2
    .cfi_endproc
    .size   weft__task_start, .-weft__task_start

    .section .note.GNU-stack,"",@progbits

# Each fuzz target's corpus replayed through its entry point, built with the
# normal compiler and without libFuzzer (replay.c gives the main), as one
# CTest entry per target: fuzz_replay.<target>. Included from
# tests/CMakeLists.txt when the http layer is built.
set(WEFT_FUZZ_DIR ${PROJECT_SOURCE_DIR}/fuzz)
foreach(target fuzz_http_request fuzz_http_response fuzz_chunked fuzz_url fuzz_http_client fuzz_http_request_head fuzz_httpd
               fuzz_ws fuzz_h2d)
  add_executable(replay_${target} ${WEFT_FUZZ_DIR}/replay.c ${WEFT_FUZZ_DIR}/${target}.c)
  target_include_directories(replay_${target} PRIVATE ${PROJECT_SOURCE_DIR}/src/http ${PROJECT_SOURCE_DIR}/src/core/iface
                             ${PROJECT_SOURCE_DIR}/src/io/iface)
  target_link_libraries(replay_${target} PRIVATE weft_static Threads::Threads)
  target_compile_options(replay_${target} PRIVATE -Wno-missing-prototypes)
  add_test(NAME fuzz_replay.${target} COMMAND replay_${target} ${WEFT_FUZZ_DIR}/corpus/${target})
  math(EXPR replay_timeout "${WEFT_TEST_TIMEOUT} * 6")
  set_tests_properties(fuzz_replay.${target} PROPERTIES TIMEOUT ${replay_timeout})
endforeach()

# Helpers shared by every subdirectory.

# wasp_unit_test(NAME SOURCES src... LIBS lib... [LABELS label...])
# Builds a cmocka test executable and registers it with ctest.
function(wasp_unit_test name)
    cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
    if(NOT CMOCKA_FOUND)
        message(FATAL_ERROR "cmocka is needed for tests: run scripts/install-deps.sh")
    endif()
    add_executable(${name} ${T_SOURCES})
    target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES LABELS "unit;${T_LABELS}" TIMEOUT 300)
endfunction()

# wasp_wasm_plugin(NAME SOURCES src... [INCLUDES dir...] [FLAGS flag...] [TARGET_VAR var])
# Compiles a proxy-wasm plugin written in C to ${CMAKE_CURRENT_BINARY_DIR}/NAME.wasm with
# Debian's clang for wasm32-wasi (wasi-libc, reactor model: exports _initialize), and the
# C SDK in plugins/sdk on the include path. Part of the ALL target.
find_program(WASP_WASM_CC NAMES clang clang-14)
function(wasp_wasm_plugin name)
    cmake_parse_arguments(P "" "" "SOURCES;INCLUDES;FLAGS" ${ARGN})
    if(NOT WASP_WASM_CC)
        message(FATAL_ERROR "clang is needed to build plugins: run scripts/install-deps.sh")
    endif()
    set(out ${CMAKE_CURRENT_BINARY_DIR}/${name}.wasm)
    set(srcs "")
    foreach(s ${P_SOURCES})
        list(APPEND srcs ${CMAKE_CURRENT_SOURCE_DIR}/${s})
    endforeach()
    set(incs -I${PROJECT_SOURCE_DIR}/plugins/sdk)
    foreach(i ${P_INCLUDES})
        list(APPEND incs -I${i})
    endforeach()
    add_custom_command(
        OUTPUT ${out}
        COMMAND ${WASP_WASM_CC} --target=wasm32-wasi -mexec-model=reactor -O2
                -Wall -Wextra -Werror -Wno-unused-parameter ${incs} ${P_FLAGS}
                -o ${out} ${srcs}
        DEPENDS ${srcs} ${PROJECT_SOURCE_DIR}/plugins/sdk/proxy_wasm.h
        COMMENT "Building plugin ${name}.wasm"
        VERBATIM)
    add_custom_target(plugin_${name} ALL DEPENDS ${out})
endfunction()

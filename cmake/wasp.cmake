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
#
# Sources are compiled with -O2 and linked without any -O: after a link with -O, clang
# runs binaryen's wasm-opt when it happens to be installed, which inlines across noinline
# and, without -g, drops the name section, so plugins (and the tests that read their
# backtraces) would differ from machine to machine. The link also searches
# WASP_WASM_NO_OPT_DIR first (-B), where a wasm-opt that fails the build stands: a link
# that would run wasm-opt is caught on every machine, not only where binaryen is.
find_program(WASP_WASM_CC NAMES clang clang-14)
set(WASP_WASM_NO_OPT_DIR ${CMAKE_BINARY_DIR}/wasm-no-opt)
file(WRITE ${WASP_WASM_NO_OPT_DIR}/wasm-opt
     "#!/bin/sh\necho \"clang ran wasm-opt: link wasm plugins without -O (cmake/wasp.cmake)\" >&2\nexit 1\n")
file(CHMOD ${WASP_WASM_NO_OPT_DIR}/wasm-opt
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ
                      WORLD_EXECUTE)

# wasp_wasm_link(OUT file.wasm SOURCES src... COMPILE args... LINK args... [DEPENDS file...]
#                [COMMENT text])
# The two steps above for any wasm target: each source to <stem>.<source>.o next to OUT
# with the COMPILE arguments (where -O belongs), then one link with the LINK arguments.
function(wasp_wasm_link)
    cmake_parse_arguments(W "" "OUT;COMMENT" "SOURCES;COMPILE;LINK;DEPENDS" ${ARGN})
    get_filename_component(stem ${W_OUT} NAME_WE)
    get_filename_component(dir ${W_OUT} DIRECTORY)
    set(objs "")
    foreach(src ${W_SOURCES})
        get_filename_component(base ${src} NAME_WE)
        set(obj ${dir}/${stem}.${base}.o)
        add_custom_command(
            OUTPUT ${obj}
            COMMAND ${WASP_WASM_CC} ${W_COMPILE} -c -o ${obj} ${src}
            DEPENDS ${src} ${W_DEPENDS}
            VERBATIM)
        list(APPEND objs ${obj})
    endforeach()
    add_custom_command(
        OUTPUT ${W_OUT}
        COMMAND ${WASP_WASM_CC} -B${WASP_WASM_NO_OPT_DIR} ${W_LINK} -o ${W_OUT} ${objs}
        DEPENDS ${objs}
        COMMENT "${W_COMMENT}"
        VERBATIM)
endfunction()

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
    wasp_wasm_link(
        OUT ${out}
        SOURCES ${srcs}
        COMPILE --target=wasm32-wasi -O2 -Wall -Wextra -Werror -Wno-unused-parameter ${incs}
                ${P_FLAGS}
        LINK --target=wasm32-wasi -mexec-model=reactor ${P_FLAGS}
        DEPENDS ${PROJECT_SOURCE_DIR}/plugins/sdk/proxy_wasm.h
        COMMENT "Building plugin ${name}.wasm")
    add_custom_target(plugin_${name} ALL DEPENDS ${out})
endfunction()

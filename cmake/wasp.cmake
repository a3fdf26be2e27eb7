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

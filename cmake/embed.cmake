# cs_embed_files(<target-var> <symbol> file...): compiles files into a C array of
# {name, text} so that the binaries carry their SQL migrations (or web pages) and
# cannot run against a different version of them than they were built with.
function(cs_embed_files out symbol)
  set(gen ${CMAKE_CURRENT_BINARY_DIR}/${symbol}.c)
  add_custom_command(
    OUTPUT ${gen}
    COMMAND ${CMAKE_COMMAND} -DSYMBOL=${symbol} -DOUT=${gen} "-DFILES=${ARGN}"
            -P ${PROJECT_SOURCE_DIR}/cmake/embed-gen.cmake
    DEPENDS ${ARGN} ${PROJECT_SOURCE_DIR}/cmake/embed-gen.cmake
    COMMENT "Embedding ${symbol}"
    VERBATIM)
  set(${out} ${gen} PARENT_SCOPE)
endfunction()

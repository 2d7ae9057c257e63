# Warnings are errors everywhere; sanitizers are opt-in with CS_SANITIZE.
add_compile_definitions(_GNU_SOURCE)
add_compile_options(-Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes
                    -Wmissing-prototypes -Wno-unused-parameter -fno-common)
# snprintf into fixed buffers truncates on purpose (bounded log lines, error strings);
# GCC's guesses about it are noise, not bugs.
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  add_compile_options(-Wno-format-truncation)
endif()
if(CS_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=address,undefined)
endif()

# Puts libstdc++ first among the shared libraries of every executable and shared library
# defined after this file is included, so the dynamic linker binds std:: symbols to it.
# Why: pip's libtorch_cpu.so exports its own copies of libstdc++'s std::filesystem symbols
# (pytorch/pytorch#133437). When libtorch precedes libstdc++ in an executable's NEEDED list,
# the executable's std::filesystem::remove_all binds to that copy and jumps to address 0.
# Symbols are looked up in NEEDED order, which is the order the linker meets the libraries.
#
# Link options go before the objects and libraries on the link line. --no-as-needed keeps
# libstdc++ although nothing before it references it yet (Ubuntu's gcc links --as-needed by
# default); --push-state/--pop-state leave that setting as it was for the rest of the line.
# One LINKER: option, so CMake's de-duplication of link options cannot split it.
# Directory scope rather than a target to link: a new executable gets it without asking;
# tests/cmake/link_order.sh checks every LibTorch executable of the build.
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  add_link_options("LINKER:--push-state,--no-as-needed,-lstdc++,--pop-state")
endif()

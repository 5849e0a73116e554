# Links the shared libstdc++.so.6, by its full path, first among the libraries of every
# executable and shared library defined after this file is included, so that every std::
# symbol they use binds to libstdc++ with its version (remove_all@GLIBCXX_3.4.26).
#
# Why: pip's libtorch_cpu.so exports its own copies of libstdc++'s std::filesystem symbols
# (pytorch/pytorch#133437). A reference the linker meets in such a library first is left
# undefined *without a version* and binds, at run time, to whichever loaded object defines
# it first: LibTorch's copy, which jumps to address 0. A plain `-lstdc++` is not enough: a
# toolchain whose only libstdc++ is libstdc++.a (compiler wrappers in containers and on
# clusters do this) resolves it to the archive, which the linker does not search for
# symbols nothing has asked for yet, and LibTorch wins. A file named by its path is always
# linked, and --no-as-needed keeps it in NEEDED although nothing before it references it
# (Ubuntu's gcc links --as-needed by default); --push-state/--pop-state leave that setting
# as it was for the rest of the line. One LINKER: option, so CMake cannot split it.
#
# Which libstdc++.so.6, in order (the first that exists):
#   1. -DNIN_LIBSTDCXX=PATH, as given;
#   2. the compiler's own (`c++ -print-file-name=libstdc++.so.6`): what g++ links anyway;
#   3. the one LibTorch's libc10.so resolves to (ldd): the one the process loads;
#   4. a libstdc++.so.6 in the compiler's library folders or the system's.
# None: configure stops and says what to pass. tests/cmake/link_order.sh checks every
# binary of the build; tests/cmake/static_libstdcxx.sh builds the trap and runs through it.
if(NOT CMAKE_SYSTEM_NAME STREQUAL "Linux")
  return()
endif()

set(NIN_LIBSTDCXX "" CACHE FILEPATH "The shared libstdc++.so.6 linked first into every binary (found when empty)")

function(nin_find_shared_libstdcxx out)
  set(tried "")
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libstdc++.so.6
                  OUTPUT_VARIABLE path OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(IS_ABSOLUTE "${path}" AND EXISTS "${path}")
    get_filename_component(path "${path}" ABSOLUTE)  # gcc prints .../12/../../../x86_64-linux-gnu/
    set(${out} "${path}" PARENT_SCOPE)
    return()
  endif()
  list(APPEND tried "${CMAKE_CXX_COMPILER} -print-file-name=libstdc++.so.6 printed '${path}'")

  # LibTorch's own: TorchConfig.cmake sets c10_LIBRARY (libc10.so, the smallest to inspect).
  if(c10_LIBRARY AND EXISTS "${c10_LIBRARY}")
    execute_process(COMMAND ldd "${c10_LIBRARY}" OUTPUT_VARIABLE deps ERROR_QUIET)
    if(deps MATCHES "libstdc\\+\\+\\.so\\.6 => ([^ \t\n]+)" AND EXISTS "${CMAKE_MATCH_1}")
      set(${out} "${CMAKE_MATCH_1}" PARENT_SCOPE)
      return()
    endif()
    list(APPEND tried "ldd ${c10_LIBRARY} names no libstdc++.so.6")
  endif()

  find_library(NIN_LIBSTDCXX_SEARCH NAMES libstdc++.so.6 HINTS ${CMAKE_CXX_IMPLICIT_LINK_DIRECTORIES} NO_CACHE)
  if(NIN_LIBSTDCXX_SEARCH)
    set(${out} "${NIN_LIBSTDCXX_SEARCH}" PARENT_SCOPE)
    return()
  endif()
  list(APPEND tried "no libstdc++.so.6 in ${CMAKE_CXX_IMPLICIT_LINK_DIRECTORIES} or the system's library folders")
  list(JOIN tried "; " tried)
  set(${out} "" PARENT_SCOPE)
  set(NIN_LIBSTDCXX_TRIED "${tried}" PARENT_SCOPE)
endfunction()

if(NIN_LIBSTDCXX)
  if(NOT EXISTS "${NIN_LIBSTDCXX}" OR IS_DIRECTORY "${NIN_LIBSTDCXX}")
    message(FATAL_ERROR "NIN_LIBSTDCXX=${NIN_LIBSTDCXX}: no such file; pass the path of a shared libstdc++.so.6")
  endif()
  set(NIN_LIBSTDCXX_PATH "${NIN_LIBSTDCXX}")
  set(NIN_LIBSTDCXX_FROM "NIN_LIBSTDCXX")
else()
  nin_find_shared_libstdcxx(NIN_LIBSTDCXX_PATH)
  set(NIN_LIBSTDCXX_FROM "found")
endif()
if(NOT NIN_LIBSTDCXX_PATH)
  message(FATAL_ERROR
    "No shared libstdc++.so.6 to link (${NIN_LIBSTDCXX_TRIED}).\n"
    "Linking only libstdc++.a lets LibTorch's exported copies of std::filesystem "
    "(pip's LibTorch, pytorch/pytorch#133437) take the calls, and nin-dist crashes. "
    "Pass the one your LibTorch loads: -DNIN_LIBSTDCXX=/path/to/libstdc++.so.6 "
    "(`ldd $(dirname <LibTorch>)/libc10.so | grep stdc++` names it).")
endif()
if(NIN_LIBSTDCXX_PATH MATCHES ",")
  message(FATAL_ERROR "NIN_LIBSTDCXX=${NIN_LIBSTDCXX_PATH}: a path with a comma cannot be passed to the linker")
endif()
add_link_options("LINKER:--push-state,--no-as-needed,${NIN_LIBSTDCXX_PATH},--pop-state")

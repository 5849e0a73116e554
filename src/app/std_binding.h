// Which library this process's std::filesystem calls land in, checked before any work.
#pragma once

#include <string>

namespace nin::app {

// "" when std::filesystem binds to libstdc++ (shared, or linked into the executable);
// else a message naming the library that took it, the reason and the fix. A binary linked
// with cmake/LinkOrder.cmake never gets one; a LibTorch or toolchain nobody foresaw might.
std::string std_filesystem_binding_problem();

}  // namespace nin::app

// The subcommands of the nin-dist binary; each parses its own flags and returns an exit code.
#pragma once

#include <string>
#include <vector>

#include "dist/process.h"

namespace nin::app {

using Args = std::vector<std::string>;  // the arguments after the subcommand

int cmd_train(const Args& args, dist::Process& process);
int cmd_summary(const Args& args);
int cmd_config(const Args& args);
int cmd_evaluate(const Args& args, dist::Process& process);
int cmd_predict(const Args& args);
int cmd_export(const Args& args);
int cmd_import(const Args& args);
int cmd_upgrade(const Args& args);
int cmd_plot(const Args& args);
int cmd_report(const Args& args);
std::string version_text();
std::string usage_text();

}  // namespace nin::app

// nin-dist: the command-line front end; owns MPI's lifetime and the error policy.
#include <malloc.h>

#include <iostream>

#include <boost/program_options/errors.hpp>
#include <c10/util/Exception.h>

#include "app/commands.h"
#include "app/std_binding.h"
#include "dist/where.h"
#include "util/error.h"

namespace {

// The subcommand named `command`, with the arguments after it; exit code.
int run_command(const std::string& command, const std::vector<std::string>& args, nin::dist::Process& process,
                bool lead) {
  if (command == "train") return nin::app::cmd_train(args, process);
  if (command == "summary") return nin::app::cmd_summary(args);
  if (command == "config") return nin::app::cmd_config(args);
  if (command == "evaluate") return nin::app::cmd_evaluate(args, process);
  if (command == "predict") return nin::app::cmd_predict(args);
  if (command == "export") return nin::app::cmd_export(args);
  if (command == "import") return nin::app::cmd_import(args);
  if (command == "upgrade") return nin::app::cmd_upgrade(args);
  if (command == "plot") return nin::app::cmd_plot(args);
  if (command == "report") return nin::app::cmd_report(args);
  if (command == "help") {
    if (lead) std::cout << nin::app::usage_text();
    return nin::kExitOk;
  }
  throw nin::InputError("unknown command '" + command + "'\n" + nin::app::usage_text());
}

}  // namespace

int main(int argc, char** argv) {
  // Each step frees and reallocates the same multi-MB activation buffers. glibc's default
  // returns them to the kernel, and page faults then cost a fifth of a CPU step; keep them.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);   // bytes: the largest value glibc accepts
  mallopt(M_TRIM_THRESHOLD, 1 << 30);    // bytes of free heap kept before trimming
  // Before MPI and any file: a std::filesystem bound to LibTorch's copies crashes later.
  if (const std::string problem = nin::app::std_filesystem_binding_problem(); !problem.empty()) {
    std::cerr << "nin-dist: error: " << problem << std::endl;
    return nin::kExitBadInput;
  }
  nin::dist::Process process(&argc, &argv);  // destroyed last: MPI_Finalize after everything
  const bool lead = process.rank() == 0;
  const std::string where = nin::dist::rank_on_host(process.rank(), process.host());
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    // Bare `nin-dist` would train the seed's 224 px recipe for hours on a CPU: it shows
    // what there is to run instead, as a Unix tool does when an operand is missing.
    if (args.empty()) {
      if (lead) std::cerr << nin::app::usage_text();
      return nin::kExitBadInput;
    }
    std::string command = "train";  // flags first: `nin-dist --config FILE` trains
    const bool implicit = args[0].rfind("-", 0) == 0;
    if (!implicit) command = args[0], args.erase(args.begin());
    if (implicit && (args[0] == "--version" || args[0] == "-V")) {
      if (lead) std::cout << nin::app::version_text();
      return nin::kExitOk;
    }
    if (implicit && (args[0] == "--help" || args[0] == "-h") && lead) std::cout << nin::app::usage_text() << "\n";
    return run_command(command, args, process, lead);
  } catch (const boost::program_options::error& e) {
    // Every rank parses the same flags, so every rank fails here alike.
    if (lead) std::cerr << "nin-dist: " << e.what() << " (see nin-dist --help)" << std::endl;
    return nin::kExitBadInput;
  } catch (const nin::InputError& e) {
    if (lead) std::cerr << "nin-dist: error: " << e.what() << std::endl;
    return nin::kExitBadInput;
  } catch (const nin::CollectiveFault& e) {
    if (lead) std::cerr << "nin-dist: error: " << e.what() << std::endl;
    return nin::kExitFault;
  } catch (const c10::Error& e) {
    std::cerr << "nin-dist: error on " << where << ": " << e.what_without_backtrace() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "nin-dist: error on " << where << ": " << e.what() << std::endl;
  }
  // A fault on one rank: the others may be waiting in a collective, so end them all.
  if (process.size() > 1) process.abort(nin::kExitFault);
  return nin::kExitFault;
}

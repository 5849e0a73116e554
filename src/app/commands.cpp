#include "app/commands.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <limits>
#include <sstream>

#include <boost/program_options.hpp>

#include "app/image.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/interop.h"
#include "config/config.h"
#include "data/fashion_mnist.h"
#include "data/idx.h"
#include "dist/factory.h"
#include "infer/evaluate.h"
#include "infer/model_io.h"
#include "model/nin.h"
#include "report/curves.h"
#include "report/report.h"
#include "rundir/paths.h"
#include "run/progress.h"
#include "run/info.h"
#include "train/trainer.h"
#include "util/error.h"

namespace nin::app {
namespace po = boost::program_options;
namespace fs = std::filesystem;
namespace {

// Version-1 checkpoints are TorchScript archives: loading one can run code it holds. Only
// `upgrade` reads them, on this flag; every other command reads the current format alone.
constexpr const char* kTrustLegacy = "trust-legacy-checkpoint";

// InputError for the trust flag given to a command other than `upgrade`, saying where it goes.
void refuse_misplaced_trust(const Args& args, const po::options_description& desc) {
  if (desc.find_nothrow(kTrustLegacy, false)) return;
  for (const auto& a : args)
    if (a == std::string("--") + kTrustLegacy)
      throw InputError(a + ": only `nin-dist upgrade OLD.nin NEW.nin " + a +
                       "` reads a version-1 checkpoint; upgrade it once, then give NEW.nin here");
}

// Parses `args` against `desc` (plus --help); prints help and returns false for --help.
bool parse(const Args& args, po::options_description& desc, po::variables_map& vm, const std::string& usage,
           const po::positional_options_description* positional = nullptr) {
  desc.add_options()("help,h", "show this help");
  refuse_misplaced_trust(args, desc);
  auto parser = po::command_line_parser(args).options(desc);
  if (positional) parser.positional(*positional);
  po::store(parser.run(), vm);
  if (vm.count("help")) {
    std::cout << "usage: " << usage << "\n\n" << desc << "\n";
    return false;
  }
  po::notify(vm);
  return true;
}

void add_config_options(po::options_description& desc) {
  desc.add_options()
      ("config,c", po::value<std::string>()->default_value(""), "TOML config file (empty: built-in defaults)")
      ("set", po::value<std::vector<std::string>>()->composing(), "override a config key, KEY=VALUE (repeatable)");
}

config::Config config_from(const po::variables_map& vm) {
  std::vector<std::string> sets;
  if (vm.count("set")) sets = vm["set"].as<std::vector<std::string>>();
  return config::load_config(vm["config"].as<std::string>(), sets);
}

// InputError when a path from the command line holds a control character: a newline in a
// name has no use, and would end a line of whatever text the name is written into.
void require_plain_path(const std::string& flag, const std::string& path) {
  std::string shown;
  bool control = false;
  for (const unsigned char c : path) {
    const bool bad = c < 0x20 || c == 0x7f;
    control = control || bad;
    char hex[8];
    std::snprintf(hex, sizeof hex, "\\x%02x", c);
    shown += bad ? std::string(hex) : std::string(1, static_cast<char>(c));
  }
  if (control) throw InputError(flag + " " + shown + ": holds a control character (a newline, tab, ...); refused");
}

// The FashionMNIST name, or "class N" for a model with other labels.
std::string class_name(int64_t c, int64_t classes) {
  const std::string name = data::class_name(c, classes);
  return name.empty() ? "class " + std::to_string(c) : name;
}

}  // namespace

std::string usage_text() {
  return "usage: nin-dist [COMMAND] [OPTIONS]\n\n"
         "commands:\n"
         "  train      train NiN (the default command): nin-dist --config configs/fmnist.toml\n"
         "  evaluate   test loss, accuracy and confusion matrix of a checkpoint\n"
         "  predict    classify images (PNG, PGM, IDX) or test-set entries with a checkpoint\n"
         "  summary    layer-by-layer output shapes and the parameter count\n"
         "  export     write a checkpoint's weights as a PyTorch state dict\n"
         "  import     make a checkpoint from a PyTorch state dict\n"
         "  upgrade    rewrite a checkpoint of an earlier version in the current format\n"
         "  plot       draw curves.svg for one or more run directories\n"
         "  report     write RUN_DIR/report.html, one self-contained page of the run\n"
         "  config     print the effective config, or the reference of every key\n\n"
         "A first run, minutes on a laptop: nin-dist --config configs/cpu.toml\n"
         "`nin-dist COMMAND --help` lists a command's options; --version prints the build.\n";
}

std::string version_text() {
  const run::BuildInfo b = run::build_info();  // the same facts as run.json's
  return "nin-dist " + b.version + "\nLibTorch " + b.libtorch + "\nCUDA: " + b.cuda + "\nNCCL: " + b.nccl +
         "\nMPI: " + b.mpi + "\n";
}

int cmd_train(const Args& args, dist::Process& process) {
  po::options_description desc("nin-dist train");
  add_config_options(desc);
  desc.add_options()
      ("run-dir", po::value<std::string>(), "run directory (sets run.dir)")
      ("resume", po::value<std::string>()->default_value(""), "\"auto\" (newest good checkpoint in the run directory) or a checkpoint path")
      ("overwrite", po::bool_switch(),
       "start over in a run directory that holds another run, moving its files into RUN_DIR/previous-<UTC time>/")
      ("quiet,q", po::bool_switch(), "print only epoch summaries (sets log.quiet)")
      ("log-every", po::value<int64_t>(), "steps between progress lines off a terminal (sets log.every)");
  po::variables_map vm;
  if (!parse(args, desc, vm, "nin-dist [train] --config FILE [--set KEY=VALUE]... [--resume auto|PATH | --overwrite]"))
    return kExitOk;
  const std::string resume = vm["resume"].as<std::string>();
  const bool overwrite = vm["overwrite"].as<bool>();
  if (overwrite && !resume.empty())
    throw InputError("--overwrite starts the run over and --resume " + resume + " continues it: give one of them");
  auto config = config_from(vm);
  if (vm.count("run-dir")) config.run_dir = vm["run-dir"].as<std::string>();
  if (vm["quiet"].as<bool>()) config.quiet = true;
  if (vm.count("log-every")) config.log_every = vm["log-every"].as<int64_t>();
  return train::train(config, train::RunOptions{resume, overwrite}, process);
}

int cmd_summary(const Args& args) {
  po::options_description desc("nin-dist summary");
  add_config_options(desc);
  desc.add_options()("input", po::value<std::string>()->default_value("1x1x224x224"), "input shape NxCxHxW");
  po::variables_map vm;
  if (!parse(args, desc, vm, "nin-dist summary [--input 1x1x224x224] [--config FILE]")) return kExitOk;
  const auto config = config_from(vm);
  std::vector<int64_t> shape;
  std::stringstream in(vm["input"].as<std::string>());
  for (std::string part; std::getline(in, part, 'x');) {
    try {
      shape.push_back(std::stoll(part));
    } catch (const std::exception&) {
      shape.clear();
      break;
    }
  }
  if (shape.size() != 4 || shape[0] < 1 || shape[1] != config.in_channels || shape[2] < model::min_input_size() ||
      shape[3] < model::min_input_size())
    throw InputError("--input " + vm["input"].as<std::string>() + ": expected NxCxHxW with C = model.in_channels = " +
                     std::to_string(config.in_channels) + " and H, W >= " + std::to_string(model::min_input_size()));
  auto model = infer::make_model(config);
  model::print_summary(std::cout, model, shape);
  return kExitOk;
}

int cmd_config(const Args& args) {
  po::options_description desc("nin-dist config");
  add_config_options(desc);
  desc.add_options()("reference", po::bool_switch(), "print every key with its default and meaning (Markdown)");
  po::variables_map vm;
  if (!parse(args, desc, vm, "nin-dist config [--config FILE] [--set KEY=VALUE]... | --reference")) return kExitOk;
  if (vm["reference"].as<bool>()) {
    std::cout << "| key | default | meaning |\n| --- | --- | --- |\n";
    for (const auto& f : config::config_reference())
      std::cout << "| `" << f.key << "` | `" << f.value << "` | " << f.doc << " |\n";
    return kExitOk;
  }
  const auto config = config_from(vm);
  config::validate(config, 1);
  std::cout << config::to_toml(config);
  return kExitOk;
}

int cmd_evaluate(const Args& args, dist::Process& process) {
  po::options_description desc("nin-dist evaluate");
  desc.add_options()
      ("checkpoint", po::value<std::string>(), "checkpoint file (or give it as the first argument)")
      ("data-dir", po::value<std::string>(), "FashionMNIST folder (default: the checkpoint's data.dir)")
      ("test-limit", po::value<int64_t>(),
       "evaluate on the first N test images, 0 = all (default: the checkpoint's data.test_limit)")
      ("batch", po::value<int64_t>()->default_value(256), "images per forward pass");
  po::positional_options_description pos;
  pos.add("checkpoint", 1);
  po::variables_map vm;
  if (!parse(args, desc, vm, "nin-dist evaluate CHECKPOINT [--data-dir DIR] [--test-limit N]", &pos)) return kExitOk;
  if (!vm.count("checkpoint")) throw InputError("evaluate: give a checkpoint, e.g. nin-dist evaluate RUN_DIR/best.nin");
  auto loaded = infer::load_model(vm["checkpoint"].as<std::string>());
  if (vm.count("test-limit")) {
    const int64_t limit = vm["test-limit"].as<int64_t>();
    if (limit < 0) throw InputError("--test-limit " + std::to_string(limit) + ": expected 0 (all) or more");
    loaded.config.test_limit = limit;  // the checkpoint's own config chooses the rest of the test split
  }
  const auto r = infer::evaluate_checkpoint(loaded, vm.count("data-dir") ? vm["data-dir"].as<std::string>() : "",
                                            vm["batch"].as<int64_t>(), process);
  if (process.rank() != 0) return kExitOk;
  const int64_t correct = r.confusion.diagonal().sum().item<int64_t>();
  std::cout << "checkpoint " << loaded.path << " (epoch " << loaded.state.epoch << ")\n"
            << std::fixed << std::setprecision(4) << "test loss " << r.loss << ", accuracy "
            << std::setprecision(6) << r.accuracy << " (" << correct << "/" << r.count << " correct)\n\n"
            << "confusion matrix (rows: true class, columns: predicted)\n";
  const int64_t classes = loaded.config.num_classes;
  std::cout << std::setw(12) << "";
  for (int64_t c = 0; c < classes; ++c) std::cout << std::setw(6) << c;
  std::cout << "\n";
  for (int64_t t = 0; t < classes; ++t) {
    std::cout << std::setw(12) << class_name(t, classes).substr(0, 11);
    for (int64_t p = 0; p < classes; ++p) std::cout << std::setw(6) << r.confusion[t][p].item<int64_t>();
    std::cout << "\n";
  }
  std::cout << "\naccuracy per class\n" << std::setprecision(4);
  const auto per_class = r.class_accuracy();
  for (int64_t t = 0; t < classes; ++t)
    std::cout << std::setw(12) << class_name(t, classes).substr(0, 11) << "  " << per_class[size_t(t)] << "\n";
  return kExitOk;
}

namespace {
using LabelledImages = std::vector<std::pair<std::string, torch::Tensor>>;  // (label, [H, W] uint8)

// Entries BEGIN:END of `count`; InputError naming --range otherwise.
std::pair<int64_t, int64_t> parse_range(const std::string& range, int64_t count) {
  int64_t begin = 0, end = 0;
  char colon = 0;
  std::istringstream rs(range);
  if (!(rs >> begin >> colon >> end) || colon != ':' || begin < 0 || end <= begin || end > count)
    throw InputError("--range " + range + ": expected BEGIN:END within 0:" + std::to_string(count));
  return {begin, end};
}

// The images a predict argument names: one image file, or the IDX entries of `range`.
LabelledImages read_inputs(const std::string& file, const std::string& range) {
  if (is_image_file(file)) return {{file, read_image(file)}};
  const auto all = data::read_idx_u8(file, 3);
  const auto [begin, end] = parse_range(range, all.size(0));
  LabelledImages images;
  for (int64_t i = begin; i < end; ++i) images.emplace_back(file + "[" + std::to_string(i) + "]", all[i]);
  return images;
}

// Entries of the test split the model was evaluated on, each labelled with its true class.
LabelledImages test_inputs(const config::Config& c, const std::string& range) {
  const auto test = data::load_split(c.data_dir, /*train=*/false, c.num_classes);
  const auto [begin, end] = parse_range(range, test.size());
  LabelledImages images;
  for (int64_t i = begin; i < end; ++i)
    images.emplace_back("test[" + std::to_string(i) + "] (true: " + class_name(test.labels[i].item<int64_t>(), c.num_classes) + ")",
                        test.images[i]);
  return images;
}
}  // namespace

int cmd_predict(const Args& args) {
  po::options_description desc("nin-dist predict");
  desc.add_options()
      ("checkpoint", po::value<std::string>()->required(), "checkpoint file")
      ("image", po::value<std::vector<std::string>>()->composing(),
       "PNG, PGM or IDX[.gz] image file(s) (default: the test images of the checkpoint's data.dir)")
      ("range", po::value<std::string>()->default_value("0:10"), "for IDX files: entries BEGIN:END")
      ("logits", po::bool_switch(), "print each image's raw logits (full float precision) instead of its class");
  po::positional_options_description pos;
  pos.add("image", -1);
  po::variables_map vm;
  if (!parse(args, desc, vm,
             "nin-dist predict --checkpoint PATH [--logits] [IMAGE.png|IMAGE.pgm|IMAGES.idx[.gz]...] [--range 0:10]",
             &pos))
    return kExitOk;
  auto loaded = infer::load_model(vm["checkpoint"].as<std::string>());
  const config::Config& config = loaded.config;
  const bool logits = vm["logits"].as<bool>();
  if (logits)  // what a reimplementation needs to preprocess alike (tests/helpers/check_export.py)
    std::cout << "# nin-dist resize=" << config.resize << " normalize=" << int{config.normalize}
              << " num_classes=" << config.num_classes << " in_channels=" << config.in_channels << "\n";
  auto show = [&](const LabelledImages& images) {
    for (const auto& [label, img] : images) {
      const auto p = infer::predict(loaded, img.unsqueeze(0)).front();
      if (logits) {
        std::cout << label << ": logits" << std::setprecision(std::numeric_limits<float>::max_digits10);
        for (int64_t c = 0; c < p.logits.size(0); ++c) std::cout << " " << p.logits[c].item<double>();
        std::cout << "\n";
        continue;
      }
      std::cout << label << ": " << class_name(p.label, config.num_classes) << " (" << std::fixed
                << std::setprecision(3) << p.probability << ")\n" << std::defaultfloat;
    }
  };
  // No image given: the test split the model was evaluated on, so that a user sees it work,
  // true class beside each prediction, before bringing images of their own.
  const std::string range = vm["range"].as<std::string>();
  if (!vm.count("image")) show(test_inputs(config, range));
  else
    for (const auto& file : vm["image"].as<std::vector<std::string>>()) show(read_inputs(file, range));
  return kExitOk;
}

int cmd_export(const Args& args) {
  po::options_description desc("nin-dist export");
  desc.add_options()
      ("checkpoint", po::value<std::string>()->required(), "checkpoint file")
      ("out", po::value<std::string>()->required(), "state dict file for torch.load (must not exist)")
      ("force", po::bool_switch(), "replace --out if it exists");
  po::variables_map vm;
  if (!parse(args, desc, vm, "nin-dist export --checkpoint PATH --out model.pt [--force]")) return kExitOk;
  if (fs::exists(vm["out"].as<std::string>()) && !vm["force"].as<bool>())
    throw InputError(vm["out"].as<std::string>() + ": exists already; give --force to replace it");
  const auto ck = checkpoint::read_checkpoint(vm["checkpoint"].as<std::string>());
  format::save_state_dict(vm["out"].as<std::string>(), checkpoint::checkpoint_tensors(ck),
                         vm["force"].as<bool>() ? format::Existing::kReplace : format::Existing::kRefuse);
  std::cout << "wrote " << vm["out"].as<std::string>() << ": load it with "
            << "model.load_state_dict(torch.load(path))\n";
  return kExitOk;
}

int cmd_import(const Args& args) {
  po::options_description desc("nin-dist import");
  add_config_options(desc);
  desc.add_options()
      ("state-dict", po::value<std::string>()->required(),
       "file saved in Python by torch.save(model.state_dict(), path), of the seed's NiN")
      ("out", po::value<std::string>()->required(), "checkpoint to write (must not exist)");
  po::variables_map vm;
  if (!parse(args, desc, vm, "nin-dist import --state-dict model.pt --out ckpt.nin [--config FILE]")) return kExitOk;
  const auto config = config_from(vm);
  const std::string out = vm["out"].as<std::string>();
  if (fs::exists(out)) throw InputError(out + ": exists already; import never overwrites a file");
  infer::import_state_dict(vm["state-dict"].as<std::string>(), config, out);
  std::cout << "wrote " << out << "\n";
  return kExitOk;
}

int cmd_upgrade(const Args& args) {
  po::options_description desc("nin-dist upgrade");
  desc.add_options()
      ("old", po::value<std::string>(), "checkpoint of an earlier version (or give it as the first argument)")
      ("new", po::value<std::string>(), "checkpoint to write (must not exist; or give it as the second argument)")
      ("force", po::bool_switch(), "replace NEW if it exists")
      (kTrustLegacy, po::bool_switch(),
       "read a version-1 checkpoint (a TorchScript archive, which can run code: only your own files)");
  po::positional_options_description pos;
  pos.add("old", 1).add("new", 1);
  po::variables_map vm;
  if (!parse(args, desc, vm, "nin-dist upgrade OLD.nin NEW.nin [--trust-legacy-checkpoint] [--force]", &pos))
    return kExitOk;
  if (!vm.count("old") || !vm.count("new"))
    throw InputError("upgrade: give the checkpoint to read and the one to write: "
                     "nin-dist upgrade OLD.nin NEW.nin --trust-legacy-checkpoint");
  const std::string old = vm["old"].as<std::string>(), out = vm["new"].as<std::string>();
  const bool force = vm["force"].as<bool>();
  if (fs::exists(out) && !force) throw InputError(out + ": exists already; give --force to replace it");
  infer::upgrade_checkpoint(old, out, vm[kTrustLegacy].as<bool>(),
                            force ? format::Existing::kReplace : format::Existing::kRefuse);
  std::cout << "wrote " << out << ": " << old << " in the current checkpoint format\n";
  return kExitOk;
}

int cmd_plot(const Args& args) {
  po::options_description desc("nin-dist plot");
  desc.add_options()
      ("run-dir", po::value<std::vector<std::string>>()->composing(), "run directories to draw together")
      ("out", po::value<std::string>(), "folder for curves.svg (default: the first run directory)");
  po::positional_options_description pos;
  pos.add("run-dir", -1);
  po::variables_map vm;
  if (!parse(args, desc, vm, "nin-dist plot RUN_DIR... [--out DIR]", &pos)) return kExitOk;
  if (!vm.count("run-dir")) throw InputError("plot: give at least one run directory");
  std::vector<fs::path> dirs;
  for (const auto& d : vm["run-dir"].as<std::vector<std::string>>()) {
    require_plain_path("run directory", d);
    if (!fs::exists(fs::path(d) / rundir::kMetrics))
      throw InputError(d + ": no " + rundir::kMetrics + " (not a run directory?)");
    dirs.emplace_back(d);
  }
  const fs::path out = vm.count("out") ? fs::path(vm["out"].as<std::string>()) : dirs.front();
  require_plain_path("--out", out.string());
  fs::create_directories(out);
  const auto written = report::write_curves(dirs, out);
  if (!written) {
    std::cerr << "warning: no " << rundir::kMetrics << " records to plot\n";
    return kExitOk;
  }
  std::cout << "wrote " << written->string() << "\n";
  return kExitOk;
}

int cmd_report(const Args& args) {
  po::options_description desc("nin-dist report");
  desc.add_options()("run-dir", po::value<std::string>(), "the run directory to describe");
  po::positional_options_description pos;
  pos.add("run-dir", 1);
  po::variables_map vm;
  if (!parse(args, desc, vm, "nin-dist report RUN_DIR", &pos)) return kExitOk;
  if (!vm.count("run-dir")) throw InputError("report: give a run directory");
  const std::string dir = vm["run-dir"].as<std::string>();
  require_plain_path("run directory", dir);
  if (!fs::exists(fs::path(dir) / rundir::kConfig))
    throw InputError(dir + ": no " + rundir::kConfig + " (not a run directory?)");
  std::cout << "wrote " << report::write_report(dir, report::kByReport).string() << "\n";
  return kExitOk;
}

}  // namespace nin::app

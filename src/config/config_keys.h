// Every config key, declared once: the struct, reader, writer, checks and reference come from this list.
#pragma once

// X(member, key, type, default, rule, help), in the canonical to_toml order (checkpoints
// store that text and config_hash hashes it, so append new keys to their section).
// `rule` is what the value alone may be (config_rules.h); rules that involve other keys
// or the model are written out in validate(). `help` is the line in `config --reference`.
#define NIN_CONFIG_KEYS(X)                                                                                   \
  X(in_channels, "model.in_channels", int64_t, 1, between(1, 64), "input image channels")                    \
  X(num_classes, "model.num_classes", int64_t, 10, between(2, 100000),                                       \
    "output classes (labels must lie in 0..num_classes-1)")                                                  \
  X(dropout, "model.dropout", double, 0.5, half_open(0, 1), "dropout probability before the last NiN block") \
  X(class_bias, "model.class_bias", double, 1.0, finite(),                                                   \
    "initial bias of the last conv, whose ReLU feeds the average pool: > 0 opens every class at step 0")     \
                                                                                                             \
  X(data_dir, "data.dir", std::string, "/usr/share/datasets/fashion-mnist", path(),                          \
    "folder with the four FashionMNIST IDX files (.gz or raw)")                                              \
  /* square; the model's minimum is checked in validate(), and named in the help from the model */         \
  X(resize, "data.resize", int64_t, 224, between(0, 4096),                                                   \
    "input height and width in pixels (at least " + std::to_string(model::min_input_size()) + ")")           \
  X(train_limit, "data.train_limit", int64_t, 0, at_least(0), "use the first N training images; 0 = all")    \
  X(test_limit, "data.test_limit", int64_t, 0, at_least(0), "evaluate on the first N test images; 0 = all")  \
  X(normalize, "data.normalize", bool, false, any_value(), "normalise with the train-set mean and std")      \
  X(crop_padding, "data.crop_padding", int64_t, 0, at_least(0),                                              \
    "training images: zero padding per side, in pixels, before a random crop back to size; 0 = off")         \
  X(flip, "data.flip", bool, false, any_value(), "training images: mirror left-right with probability 1/2")  \
  X(val_split, "data.val_split", int64_t, 0, at_least(0),                                                    \
    "hold out N training images for validation (class-stratified, fixed by train.seed); 0 = none")          \
                                                                                                             \
  X(epochs, "train.epochs", int64_t, 10, at_least(1), "passes over the training set")                        \
  X(batch_size, "train.batch_size", int64_t, 128, at_least(1), "global batch, split evenly over the ranks")  \
  X(accumulate, "train.accumulate", int64_t, 1, at_least(1), "micro-batches per optimizer step")             \
  X(optimizer, "train.optimizer", std::string, "sgd", one_of("sgd", "adam", "adamw"), "sgd, adam or adamw")  \
  X(lr, "train.lr", double, 0.05, finite_above(0), "learning rate")                                          \
  X(momentum, "train.momentum", double, 0.0, half_open(0, 1), "SGD momentum")                                \
  X(weight_decay, "train.weight_decay", double, 0.0, at_least(0), "L2 penalty (decoupled for adamw)")        \
  /* linear is Goyal et al. 2017 */                                                                          \
  X(lr_scaling, "train.lr_scaling", std::string, "none", one_of("none", "linear"),                           \
    "none, or linear: lr * batch_size / base_batch_size")                                                    \
  X(base_batch_size, "train.base_batch_size", int64_t, 128, at_least(1), "the batch size lr was tuned for")  \
  X(warmup_epochs, "train.warmup_epochs", double, 0.0, at_least(0), "linear warm-up from lr/10, in epochs")  \
  X(lr_decay, "train.lr_decay", std::string, "none", one_of("none", "cosine"),                               \
    "none, or cosine: decay to 0 at the last step")                                                          \
  X(seed, "train.seed", uint64_t, 42, any_value(), "seed for init, shuffling and dropout")                   \
  X(threads, "train.threads", int64_t, 0, at_least(0),                                                       \
    "intra-op threads per rank; 0 = node cores / ranks on node")                                             \
  X(device, "train.device", std::string, "auto", one_of("auto", "cpu", "cuda"),                              \
    "auto, cpu or cuda (cuda:local_rank)")                                                                   \
  X(precision, "train.precision", std::string, "fp32", one_of("fp32", "bf16"),                               \
    "fp32, or bf16 (autocast on CUDA)")                                                                      \
  X(stall_steps, "train.stall_steps", int64_t, 300, at_least(0),                                             \
    "warn when the loss stays at ln(classes) this many steps; 0 = off")                                      \
  X(channels_last, "train.channels_last", bool, false, any_value(),                                          \
    "model and batches in channels-last memory")                                                             \
  X(cuda_graph, "train.cuda_graph", bool, false, any_value(),                                                \
    "capture the step in a CUDA graph and replay it (CUDA only; accumulate = 1)")                            \
  X(label_smoothing, "train.label_smoothing", double, 0.0, half_open(0, 1),                                  \
    "cross-entropy label smoothing, as PyTorch's; the training loss only (evaluation: plain cross-entropy)") \
  X(clip_grad_norm, "train.clip_grad_norm", double, 0.0, finite_at_least(0),                                 \
    "clip the averaged gradient to this global L2 norm (after the allreduce); 0 = off")                      \
                                                                                                             \
  X(bucket_mb, "dist.bucket_mb", double, 25.0, above(0), "gradient bucket cap, MiB")                         \
  /* small, so communication starts early in backward */                                                     \
  X(first_bucket_mb, "dist.first_bucket_mb", double, 1.0, above(0), "first gradient bucket cap, MiB")        \
  X(timeout_s, "dist.timeout_s", double, 300.0, above(0), "seconds before a stuck collective ends the job")  \
  X(check_every, "dist.check_every", int64_t, 0, at_least(0),                                                \
    "steps between cross-rank parameter checksums; 0 = off")                                                 \
  X(on_nonfinite, "dist.on_nonfinite", std::string, "stop", one_of("stop", "skip"),                          \
    "stop, or skip the step: a NaN or Inf loss or gradient")                                                 \
                                                                                                             \
  X(checkpoint_every, "checkpoint.every", int64_t, 1, at_least(1),                                           \
    "epochs between checkpoints (the last epoch always)")                                                    \
  X(checkpoint_keep, "checkpoint.keep", int64_t, 3, at_least(1), "newest checkpoints kept")                  \
  X(checkpoint_every_steps, "checkpoint.every_steps", int64_t, 0, at_least(0),                               \
    "optimizer steps between mid-epoch checkpoints; 0 = off")                                                \
  X(keep_best, "checkpoint.keep_best", bool, false, any_value(),                                             \
    "also keep best.nin, the epoch with the highest validation accuracy (needs data.val_split)")            \
                                                                                                             \
  X(test_every, "eval.test_every", int64_t, 0, at_least(0),                                                  \
    "epochs between test-set evaluations; 0 = after the last epoch only")                                    \
                                                                                                             \
  X(log_every, "log.every", int64_t, 20, at_least(1),                                                        \
    "steps between progress lines when stdout is not a terminal")                                            \
  X(quiet, "log.quiet", bool, false, any_value(), "print only the epoch summaries")                          \
  X(trace_steps, "log.trace_steps", std::string, "", step_range(),                                           \
    "\"A:B\": record steps A to B (0-based, inclusive) of the run's first epoch into trace.json; \"\" = off")   \
  X(profile_steps, "log.profile_steps", std::string, "", step_range(),                                       \
    "\"A:B\": profile steps A to B (0-based, inclusive) of the run's first epoch on rank 0 into "            \
    "profile.json and profile.md; \"\" = off")                                                               \
                                                                                                             \
  X(run_dir, "run.dir", std::string, "runs/default", path("must name a directory"),                          \
    "run directory: checkpoints, metrics, plots")

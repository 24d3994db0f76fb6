// What every example's main() shares: flags parsed by CLI11, and one place where every error
// becomes one line on stderr and exit status 2 — a bad flag value ("--steps abc", "--steps -5"),
// an unknown flag, a missing or malformed file, an unwritable --out — never an abort. --help
// prints the flags with their defaults and exits 0.
#pragma once

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>

#include "bijgan/config/errors.hpp"

namespace examples {

namespace detail {
inline CLI::Validator bound(const char* name, bool (*ok)(double), const char* what) {
  return CLI::Validator(
      [ok, what](std::string& s) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(s, v)) return "\"" + s + "\" is not a number";
        return ok(v) ? std::string() : "must be " + std::string(what) + ", got " + s;
      },
      name);
}
}  // namespace detail

/// Flag values that must be > 0, or >= 0, with a plain message ("must be > 0, got -5").
inline const CLI::Validator positive = detail::bound(
    "> 0", [](double v) { return v > 0; }, "> 0");
inline const CLI::Validator non_negative = detail::bound(
    ">= 0", [](double v) { return v >= 0; }, ">= 0");

/// --epochs N (> 0), --quick (one epoch) and --out DIR: the flags of the classifier examples.
inline void add_epoch_flags(CLI::App& app, int& epochs, std::filesystem::path& out_dir) {
  app.add_option("--epochs", epochs, "training epochs")->check(positive)->capture_default_str();
  app.add_flag_callback(
      "--quick", [&epochs] { epochs = 1; }, "one epoch");
  app.add_option("--out", out_dir, "output folder")->capture_default_str();
}

/// --scales (1..max_scales), --blocks and --features (> 0) of a flows::realnvp_options.
template <class RealnvpOptions>
void add_realnvp_flags(CLI::App& app, RealnvpOptions& arch, long max_scales) {
  app.add_option("--scales", arch.scales, "scales")->check(CLI::Range(1L, max_scales))->capture_default_str();
  app.add_option("--blocks", arch.blocks, "coupling blocks per scale")->check(positive)->capture_default_str();
  app.add_option("--features", arch.features, "coupling network width")->check(positive)->capture_default_str();
}

/// Creates dir (and its parents) and checks that a file can be written there, before any work
/// is done: an unwritable --out fails at once, not after an hour of training.
inline void require_writable_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) bijgan::fail<bijgan::io_error>("examples", "cannot create the output folder ", dir, ": ", ec.message());
  const auto probe = dir / (".bijgan_write_probe." + std::to_string(::getpid()));
  std::FILE* f = std::fopen(probe.c_str(), "wb");
  if (!f)
    bijgan::fail<bijgan::io_error>("examples", "cannot write into the output folder ", dir, ": ", std::strerror(errno));
  std::fclose(f);
  std::filesystem::remove(probe, ec);
}

/// Parses argv into app, then runs body (returning the exit status). Parse errors and every
/// exception body lets escape are printed as one line "<program>: <what>" and give status 2.
template <class Body>
int run(CLI::App& app, int argc, char** argv, Body&& body) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << app.get_name() << ": " << e.what() << " (see --help)\n";
    return 2;
  }
  try {
    return body();
  } catch (const bijgan::error& e) {
    std::cerr << app.get_name() << ": " << e.what() << "\n";
  } catch (const std::exception& e) {  // std::filesystem (an unwritable --out), std::bad_alloc
    std::cerr << app.get_name() << ": " << e.what() << "\n";
  }
  return 2;
}

}  // namespace examples

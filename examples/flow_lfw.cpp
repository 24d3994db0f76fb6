// The bijection H trained on LFW faces (64x64 crops of ../shared/data/lfw) with one prior class
// per identity. Classes: the identities of pairs.txt's training folds 1–9 that have at least two
// images; each one's last image is held out as the test set, the rest train. Reports test
// bits/dim (class-conditional), the marginal bits/dim of fold 10's unseen identities under the
// mixture of class priors, and writes a grid of samples (one row per identity).
//
// The class means are random points δ·r_c by default (--means line: the paper's line, centred,
// spanning [−1, 1]).
//
//   flow_lfw [--data DIR] [--epochs N] [--scales S] [--blocks K] [--features F] [--means line|random]
//            [--delta D] [--class-weight W] [--max-steps N] [--resume] [--resume-changed] [--out DIR]
#include <bijgan/bijgan.hpp>
#include <bijgan/data/lfw.hpp>
#include <bijgan/io/png.hpp>
#include <bijgan/train/flow_training.hpp>

#include "cli.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <numeric>
#include <set>
#include <string>

using namespace bijgan;
namespace fs = std::filesystem;

namespace {

/// (name, image index) list loaded as (N, 3, 64, 64) 8-bit levels k/255 (what H's dequantisation expects).
tensor<float, host> load_faces(const fs::path& root, const std::vector<std::pair<std::string, int>>& which,
                               const char* label) {
  std::vector<data::lfw_image> list;
  for (const auto& [name, idx] : which) list.push_back({name, idx});
  const auto faces = data::load_lfw_faces(root, list, {{.box = {65, 75, 185, 195}, .size = 64}}, &std::cout, label)[0];
  auto v = faces.to_vector();
  for (auto& x : v) x = std::round(std::clamp(x, 0.0f, 1.0f) * 255) / 255;
  return tensor<float, host>::from(v, faces.shape());
}

}  // namespace

int main(int argc, char** argv) {
  fs::path data =
      std::getenv("BIJGAN_DATA_DIR") ? fs::path(std::getenv("BIJGAN_DATA_DIR")) : fs::path("../shared/data");
  train::flow_fit_options fit;
  fit.epochs = 3;
  flows::realnvp_options arch{.channels = 3, .height = 64, .width = 64, .scales = 4, .blocks = 1, .features = 32};
  fs::path out_dir = "out";
  std::string means = "random";
  double delta = 0.5;  // random means about 0.5·√(2·12288) ≈ 78 apart
  CLI::App app{"The bijection H on 64x64 LFW faces, identity-conditional prior", "flow_lfw"};
  app.add_option("--data", data, "folder with lfw/ (or BIJGAN_DATA_DIR)")->capture_default_str();
  app.add_option("--epochs", fit.epochs, "training epochs")->check(examples::positive)->capture_default_str();
  examples::add_realnvp_flags(app, arch, 6);
  app.add_option("--means", means, "identity mean layout")
      ->check(CLI::IsMember({"line", "random"}))
      ->capture_default_str();
  auto* delta_opt = app.add_option("--delta", delta, "distance scale of the identity means")
                        ->check(examples::positive)
                        ->capture_default_str();
  app.add_option("--class-weight", fit.class_weight, "weight of the identity term")
      ->check(examples::non_negative)
      ->capture_default_str();
  app.add_option("--max-steps", fit.max_steps, "stop after N steps (0: all epochs)")->check(examples::non_negative);
  app.add_flag("--resume", fit.resume, "continue from the checkpoint in --out");
  app.add_flag("--resume-changed", fit.allow_option_changes,
               "resume even where the options differ from those the checkpoint recorded (e.g. more epochs)");
  app.add_option("--out", out_dir, "output folder")->capture_default_str();
  return examples::run(app, argc, argv, [&]() -> int {
    examples::require_writable_dir(out_dir);
    const flows::mean_layout layout = flows::mean_layout_from(means);
    const bool delta_given = delta_opt->count() > 0;
    if (std::getenv("BIJGAN_NO_FTZ") == nullptr) set_flush_denormal(true);
    const fs::path root = data / "lfw";
    const auto pairs = data::read_lfw_pairs(root / "pairs.txt");
    std::set<std::string> train_names, unseen_names;
    std::map<std::string, int> image_count;  // images per identity
    for (const auto& im : data::list_lfw_images(root)) ++image_count[im.name];
    for (const auto& p : pairs) {
      auto& set = p.fold < 9 ? train_names : unseen_names;
      set.insert(p.name1);
      set.insert(p.name2);
    }
    // Classes: training-fold identities with >= 2 images; the last image of each is the test.
    std::vector<std::pair<std::string, int>> train_list, test_list, unseen_list;
    std::vector<int> train_y, test_y;
    int classes = 0;
    for (const auto& name : train_names) {
      const int n = image_count[name];
      if (n < 2) continue;
      for (int i = 1; i < n; ++i) {
        train_list.emplace_back(name, i);
        train_y.push_back(classes);
      }
      test_list.emplace_back(name, n);
      test_y.push_back(classes++);
    }
    for (const auto& name : unseen_names) {
      const int n = image_count[name];
      for (int i = 1; i <= n; ++i) unseen_list.emplace_back(name, i);
    }
    std::cout << classes << " identities as classes: " << train_list.size() << " training and " << test_list.size()
              << " held-out images; " << unseen_list.size() << " images of " << unseen_names.size()
              << " unseen identities\n";
    const auto train_x = load_faces(root, train_list, "loading training faces");
    const auto test_x = load_faces(root, test_list, "loading held-out faces");
    const auto unseen_x = load_faces(root, unseen_list, "loading unseen faces");

    nn::manual_seed(2026);
    auto flow = flows::logit_transform<float>{} | flows::realnvp_multiscale<float>(arch);
    const index_t dims = 3 * 64 * 64;
    // On the line the class means span [−1, 1] by default: δ = 2/C (neighbours δ·√D apart).
    if (layout == flows::mean_layout::line && !delta_given) delta = 2.0 / classes;
    const flows::class_gaussian<float> prior{
        .classes = classes, .dim = dims, .delta = delta, .layout = layout, .seed = 7};
    std::cout << "H: " << arch.scales << " scales, " << arch.blocks << " residual block(s) of " << arch.features
              << " maps per coupling, " << nn::parameter_count(flow) << " parameters; " << num_threads()
              << " threads\n";
    fs::create_directories(out_dir);
    fit.checkpoint = out_dir / "flow_lfw.ckpt.safetensors";
    fit.log = &std::cout;
    const auto res = train::fit_flow(flow, prior, train_x, train_y, fit, {train::at_epoch_end([&](int epoch) {
                                       const auto ev = train::evaluate_flow(flow, prior, test_x, test_y);
                                       std::cout << "  epoch " << epoch << ": held-out bits/dim " << std::fixed
                                                 << std::setprecision(3) << ev.bits_per_dim << ", identity accuracy "
                                                 << std::setprecision(2) << 100 * ev.accuracy << "% of "
                                                 << test_x.size(0) << "\n";
                                     })});
    const auto held = train::evaluate_flow(flow, prior, test_x, test_y);
    const auto unseen = train::evaluate_flow(flow, prior, unseen_x, {});
    const auto train_ev = train::evaluate_flow(
        flow, prior, train_x.slice_rows(0, std::min<index_t>(2000, train_x.size(0))),
        std::vector<int>(train_y.begin(), train_y.begin() + std::min<std::size_t>(2000, train_y.size())));
    std::cout << std::fixed << std::setprecision(3) << "bits/dim: training images " << train_ev.bits_per_dim
              << ", held-out images " << held.bits_per_dim << " (marginal " << held.marginal_bits_per_dim
              << "), unseen identities (marginal) " << unseen.marginal_bits_per_dim << "; held-out identity accuracy "
              << std::setprecision(2) << 100 * held.accuracy << "% (chance " << std::setprecision(3) << 100.0 / classes
              << "%)\n";
    // Samples of the 8 identities with the most training images, each row led by that
    // identity's held-out photo.
    std::vector<int> per_class(static_cast<std::size_t>(classes), 0);
    for (int c : train_y) ++per_class[static_cast<std::size_t>(c)];
    std::vector<index_t> shown(static_cast<std::size_t>(classes));
    std::iota(shown.begin(), shown.end(), index_t{0});
    std::partial_sort(shown.begin(), shown.begin() + 8, shown.end(), [&](index_t a, index_t b) {
      return per_class[static_cast<std::size_t>(a)] > per_class[static_cast<std::size_t>(b)];
    });
    shown.resize(8);
    const auto samples = train::class_samples(flow, prior, shape{3, 64, 64}, 7, 0.7f, 5, shown).to_vector();
    const auto held_v = test_x.to_vector();
    const std::size_t image = 3 * 64 * 64;
    std::vector<float> rows;
    std::cout << "sample rows (held-out photo, then 7 samples at temperature 0.7):";
    for (std::size_t r = 0; r < shown.size(); ++r) {
      const auto c = static_cast<std::size_t>(shown[r]);
      std::cout << (r ? ", " : " ") << test_list[c].first << " (class " << c << ")";
      rows.insert(rows.end(), held_v.begin() + long(c * image), held_v.begin() + long((c + 1) * image));
      rows.insert(rows.end(), samples.begin() + long(r * 7 * image), samples.begin() + long((r + 1) * 7 * image));
    }
    std::cout << "\n";
    io::write_png(out_dir / "flow_lfw_samples_t7.png", io::make_grid(tensor<float>::from(rows, {64, 3, 64, 64}), 8));
    std::cout << "wrote " << (out_dir / "flow_lfw_samples_t7.png").string() << "\n";
    std::cout << "trained " << res.steps - res.resumed_from << " steps in " << std::setprecision(1) << res.seconds
              << " s\n";
    std::cout << "RESULT heldout_bits_per_dim=" << std::setprecision(3) << held.bits_per_dim
              << " unseen_marginal_bits_per_dim=" << unseen.marginal_bits_per_dim << "\n";
    return 0;
  });
}

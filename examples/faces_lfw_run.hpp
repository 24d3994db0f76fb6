// faces_lfw's training and evaluation for descriptors of size D (included by the
// faces_lfw_d<D>.cpp translation units only): the student, H, the GAN, and the report on the
// test fold — verification, engine and student cosines, Fréchet distances, the grid figure,
// MS-SSIM diversity and the sheet.
#pragma once

#include <bijgan/bijgan.hpp>
#include <bijgan/data/standardize.hpp>
#include <bijgan/engines/feature_cache.hpp>
#include <bijgan/engines/whitebox.hpp>
#include <bijgan/eval/realism.hpp>
#include <bijgan/eval/reconstruction.hpp>
#include <bijgan/eval/verification.hpp>
#include <bijgan/io/atomic_file.hpp>
#include <bijgan/models/models.hpp>
#include <bijgan/train/adversarial.hpp>
#include <bijgan/train/flow_training.hpp>
#include <bijgan/train/student.hpp>
#include <bijgan/train/student_refresh.hpp>

#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "faces_lfw.hpp"

namespace faces_lfw {

using namespace bijgan;
namespace fs = std::filesystem;

// DAB-GAN and DiBiGAN at 64x64 (the default) and 32x32 (--quick) for D-dimensional descriptors.
// The running to-RGB sum is upsampled bilinearly (since 2026-12-06: nearest left a 4-pixel
// block mosaic; docs/faces.md, "The block mosaic").
template <index_t R, index_t D>
constexpr models::gan_config dab_cfg{.channels = 3,
                                     .resolution = R,
                                     .feature_dim = D,
                                     .noise_dim = 32,
                                     .embed = 64,
                                     .heads = 4,
                                     .depth = 1,
                                     .bicubic_stages = R == 64 ? 3 : 2,
                                     .bilinear_rgb = true,
                                     .critic_patch = R == 64 ? 8 : 4,
                                     .critic_embed = 64};
template <index_t R, index_t D>
constexpr models::gan_config cnn_cfg{.channels = 3, .resolution = R, .feature_dim = D, .noise_dim = 32, .width = 32};
// The student works at 32x32 at both sizes (the generator's output is resized to it
// bilinearly): dlib's engine loses 1 point of LFW accuracy at 32x32 (96.8 % vs 97.8 % at 64),
// and 10 epochs take ≈ 3 minutes instead of ≈ 12.
template <index_t D>
constexpr models::student_config student_cfg{
    .channels = 3, .resolution = 32, .feature_dim = D, .width = 32, .stages = 3};

/// 10-fold accuracy and TAR of distances over the test fold's pairs (sub-folds of 60 pairs:
/// 30 same, 30 different, in file order), plus TAR at the threshold `far_threshold` set from
/// every impostor pair among the test images.
struct verification_figures {
  double accuracy = 0, accuracy_std = 0, tar_official = 0, tar_all_impostors = 0;
  long official_false_accepts = 0;
};

inline verification_figures verify(const std::vector<double>& d, const std::vector<bool>& same, double far_threshold) {
  std::vector<int> fold(d.size());
  long positives = 0, below = 0;
  for (std::size_t k = 0; k < d.size(); ++k) {
    fold[k] = static_cast<int>((k % 300) / 30);
    if (same[k]) ++positives, below += d[k] < far_threshold;
  }
  const auto r = eval::k_fold_accuracy(d, same, fold);
  const auto t = eval::tar_at_far(d, same, 1e-3);
  return {r.mean_accuracy, r.std_accuracy, t.tar, double(below) / double(std::max(1L, positives)), t.false_accepts};
}

/// Realism in one feature space: the Fréchet distance from the reals of the odd test rows to
/// the even rows' reconstructions and (when given) to the even rows' reals reduced to R x R and
/// back, and the floor: to the even rows' reals (sets of the same sizes, so the small-sample
/// bias is shared).
struct frechet_figures {
  double floor = 0, reduced = 0, reconstruction = 0;
};
inline frechet_figures frechet_of(const tensor<float>& real, const tensor<float>& recon,
                                  const tensor<float>* reduced = nullptr) {
  std::vector<index_t> even, odd;
  for (index_t i = 0; i < real.size(0); ++i) (i % 2 ? odd : even).push_back(i);
  const auto b = data::gather_rows(real, odd);
  return {eval::frechet_distance(data::gather_rows(real, even), b),
          reduced ? eval::frechet_distance(data::gather_rows(*reduced, even), b) : 0.0,
          eval::frechet_distance(data::gather_rows(recon, even), b)};
}

/// fit_gan's distiller behind one type, so fit_gan is compiled once per model for both modes:
/// the student's stages (blackbox) or the engine's own (whitebox), on images at R x R.
template <index_t R, index_t D>
struct distiller {
  using value_type = float;
  using backend_type = host;
  static constexpr index_t feature_dim = D;
  static constexpr std::array<index_t, 3> image_shape{3, R, R};
  std::function<staged_output<var<float>>(const var<float>&)> of;
  template <class F>
  void visit(F&&) {}  // nothing trained here: the student and the engine are frozen views
  [[nodiscard]] staged_output<var<float>> stages(const var<float>& x) const { return of(x); }
};

/// main()'s differentiable engine query (images at R x R, resized to the engine's input
/// inside) as a staged_engine, for engines::whitebox.
template <index_t R, index_t D>
struct engine_query {
  static constexpr index_t feature_dim = D;
  static constexpr std::array<index_t, 3> image_shape{3, R, R};
  const inputs* in;
  [[nodiscard]] staged_output<var<float>> forward_stages(const var<float>& x) const { return in->forward(x); }
  [[nodiscard]] var<float> forward(const var<float>& x) const { return in->forward(x).features; }
};

template <index_t R, class M>
int run(const inputs& in) {
  const auto& o = in.o;
  const auto& split = in.split;
  const auto& train_x = in.train_x;
  const auto& test_x = in.test_x;
  constexpr index_t D = M::template generator<>::feature_dim;
  constexpr auto scfg = student_cfg<D>;
  // The engine's descriptors centred on the training mean (one global scale): the student's
  // target and the generator's condition. Raw dlib descriptors of different people have a mean
  // cosine of ≈ 0.84, so a student fitted to them learns little more than their mean direction.
  const auto standardizer = data::feature_standardizer::fit(in.train_f);
  // Output files are named by the model and the mode (whitebox runs beside blackbox ones).
  const std::string tag =
      o.model + (o.whitebox ? "_whitebox" : "") + (o.seed != 1 ? "_seed" + std::to_string(o.seed) : std::string());
  const bool blackbox_distill = o.terms.distill && !o.whitebox;
  const auto& comm = in.comm;
  const bool root = comm.rank() == 0;  // writes the files; the other ranks only train
  if (root) standardizer.save(o.out / "feature_standardizer.safetensors");
  const auto train_z = standardizer(in.train_f), test_z = standardizer(in.test_f);
  // 1. The student F^S, trained only from the engine's answers (Eq. 14); refreshed from more
  // answers during GAN training (--refresh 0 keeps it frozen, as the paper does).
  nn::manual_seed(5);
  models::student<scfg> student;
  // Keyed by what it was fitted with: the engine's weights, the epochs and the augmentation.
  const int epochs = o.student_epochs >= 0 ? o.student_epochs : 10;
  const auto student_file =
      o.out / ("student_r32_centred_e" + std::to_string(epochs) + (o.student_mirror ? "_mirror_" : "_") +
               std::to_string(in.checksum) + ".safetensors");
  // Only blackbox distillation (and --student-only) uses a student: whitebox and --no-distill
  // runs neither fit nor load one.
  const bool needs_student = blackbox_distill || o.student_only;
  if (needs_student && dist::exists_on_root(comm, student_file)) {  // rank 0 reads it for all
    io::decode_safetensors(dist::read_on_root(comm, student_file), student_file.string()).load_module("", student);
    std::cout << "student: loaded " << student_file.string() << "\n";
  } else if (needs_student) {
    std::cout << "student: " << nn::parameter_count(student) << " parameters, " << epochs
              << " epoch(s) of cosine distillation\n";
    // The test fold's reals are held out: the log shows the student's agreement with the
    // engine on unseen faces after every epoch (they are not used to choose anything).
    const double loss = train::fit_student(student, train_x, train_z,
                                           {.epochs = epochs,
                                            .log = &std::cout,
                                            .mirror = o.student_mirror,
                                            .held_out_images = &test_x,
                                            .held_out_teacher = &test_z,
                                            .comm = comm});
    std::cout << "student: final cosine loss " << loss << "\n";
    if (root) io::save(student_file, student);
  }
  nn::eval(student);
  if (o.student_only) {
    const auto s_real = train::student_features(student, test_x);
    std::cout << std::fixed << std::setprecision(4) << "student only: mean cos with the engine on the test reals "
              << eval::mean_cosine(s_real, test_z) << ", impostor pairs: student "
              << eval::mean_cosine(eval::impostor_distances(s_real, split.test_labels)) << ", engine "
              << eval::mean_cosine(eval::impostor_distances(test_z, split.test_labels)) << "\n";
    return 0;
  }

  // 2. H with one prior class per training identity (random means, δ = 0.5).
  const flows::realnvp_options arch{
      .channels = 3, .height = R, .width = R, .scales = R == 64 ? 4 : 3, .blocks = 1, .features = 32};
  nn::manual_seed(2026);
  auto flow = flows::logit_transform<float>{} | flows::realnvp_multiscale<float>(arch);
  const fs::path flow_file = !o.flow_checkpoint.empty()
                                 ? o.flow_checkpoint
                                 : o.out / ("flow_r" + std::to_string(R) + "_" + in.flow_key + ".ckpt.safetensors");
  if (o.terms.biject) {
    const flows::class_gaussian<float> prior{.classes = split.train_identities,
                                             .dim = 3 * R * R,
                                             .delta = 0.5,
                                             .layout = flows::mean_layout::random,
                                             .seed = 7};
    train::flow_fit_options fo;
    fo.epochs = 1000;  // bounded by max_steps
    fo.max_steps = o.h_steps >= 0 ? o.h_steps : o.quick ? 150 : 300;
    fo.checkpoint = flow_file;
    fo.resume = true;  // a finished H is loaded as it is; an interrupted one continues
    fo.comm = comm;
    fo.log = &std::cout;
    std::cout << "H: " << nn::parameter_count(flow) << " parameters, " << fo.max_steps << " steps (class prior over "
              << split.train_identities << " identities)\n";
    train::fit_flow(flow, prior, train_x, split.train_labels, fo);
    std::cout << "\n";
  }

  // In the GAN step H is only differentiated through (frozen): recompute each coupling in the
  // backward pass instead of keeping its activations (64x64: ~1.1 GB less at peak, faces.md).
  std::get<1>(flow.steps).options.recompute = true;

  // 3. The GAN, from the engine's descriptors of the training faces.
  nn::manual_seed(10 + o.seed);  // seed 1: the figures in docs/faces.md
  typename M::template generator<> g;
  typename M::template critic<> d;
  std::cout << o.model << " " << R << "x" << R << ": generator " << nn::parameter_count(g) << " parameters, critic "
            << nn::parameter_count(d) << "\n";
  train::gan_options go;
  go.steps = o.steps > 0 ? o.steps : o.quick ? 400 : 800;                // 64x64: 48 min with H (faces.md)
  go.steps_per_stage = go.steps / (2 * models::detail::stage_count(R));  // grow over the first half
  go.fade_steps = go.steps_per_stage / 2;
  go.batch = 32;
  go.per_identity = 2;  // 16 identities x 2 images: the bijective metric compares identities
  go.n_critic = 1;
  go.lr_generator = 1e-3, go.lr_critic = 1e-3;
  go.clip_norm = 5;
  auto objective = train::dabgan_objective(o.terms);
  objective.term<train::adversarial_term>().scale = 0.02;
  go.log = &std::cout;
  go.seed = o.seed;
  go.checkpoint = o.out / (tag + "_r" + std::to_string(R) + ".ckpt.safetensors");
  go.checkpoint_every = 100;
  go.resume = o.resume;
  go.allow_option_changes = o.resume_changed;
  go.comm = comm;
  // The first image of 8 test identities, for the grids during training and the final sheet.
  std::vector<index_t> pick;
  for (index_t i = 0; i < test_x.size(0) && pick.size() < 8; ++i)
    if (i == 0 || split.test_labels[static_cast<std::size_t>(i)] != split.test_labels[static_cast<std::size_t>(i - 1)])
      pick.push_back(i);
  std::vector<train::gan_callback> callbacks{
      train::csv_log(o.out / (tag + "_losses.csv")),
      train::png_grid(o.out / (tag + "_grid"), 200, data::gather_rows(test_x, pick), data::gather_rows(test_z, pick))};
  // Blackbox queries during training: the engine's (standardised) descriptors of what the
  // generator makes now keep the student faithful where the generator is.
  // The refreshed student is saved with every GAN checkpoint, so --resume continues both.
  train::student_refresh_stats refresh;
  const auto refreshed_file = o.out / (tag + "_student_refreshed_r" + std::to_string(R) + ".safetensors");
  const auto save_student = [&] {
    if (root) io::save(refreshed_file, student);
  };
  if (blackbox_distill && o.refresh_every > 0) {
    if (o.resume && dist::exists_on_root(comm, refreshed_file))
      io::decode_safetensors(dist::read_on_root(comm, refreshed_file), refreshed_file.string())
          .load_module("", student);
    callbacks.push_back(train::student_refresh(
        student, [&](const tensor<float>& x) { return standardizer(in.describe(x)); }, train_x, train_z,
        {.every = o.refresh_every, .real_batch = o.refresh_reals, .comm = comm}, &refresh));
    callbacks.push_back([&](const train::gan_report& r) {
      if (r.step % go.checkpoint_every == 0) save_student();
    });
  }
  auto ema = g;
  const train::gan_data gdata{train_x, train_z, split.train_labels};
  // Blackbox: a frozen view of the student (it shares the student's storage, so it follows the
  // refreshes), at its 32x32 input. Whitebox: the engine itself, its descriptors centred on the
  // training mean as the student's targets are.
  const auto student_view = nn::frozen(student);
  const engine_query<R, D> query{&in};
  const engines::whitebox<engine_query<R, D>> engine_box(query, {.centre = standardizer.mean});
  distiller<R, D> distil;
  if (o.whitebox)
    distil.of = [&](const var<float>& x) { return engine_box.stages(x); };
  else
    distil.of = [&](const var<float>& x) {
      return student_view.stages(resize(x, scfg.resolution, scfg.resolution, interpolation::bilinear));
    };
  // H and the distiller fill their slots even where their term is off (the ablation): an
  // objective's terms fix its slots at compile time, and a term that is off never calls them.
  const auto parts = train::gan(g, d).with_bijection(flow).with_distiller(distil).with_ema_output(ema);
  const auto res = train::fit_gan(parts, gdata, go, objective, callbacks);
  const double img_s = double(res.steps - res.resumed_from) * double(go.batch) / std::max(1e-9, res.seconds);
  if (refresh.refreshes > 0) {
    std::cout
        << "\nstudent refreshed " << refresh.refreshes << " times (" << refresh.queries
        << " engine queries on generated images); student vs engine cos on the generated batch before its refresh: "
        << refresh.cos_before_smoothed << " (smoothed)\n";
    save_student();
  }
  std::cout << "\ntrained " << res.steps - res.resumed_from << " steps in " << std::fixed << std::setprecision(1)
            << res.seconds << " s (" << img_s << " images/s" << (comm.size() > 1 ? " on " : "")
            << (comm.size() > 1 ? std::to_string(comm.size()) + " ranks" : std::string()) << ")\n";
  if (!root) return 0;  // rank 0 evaluates and writes the report

  // 4. Evaluation on the test fold: real | reduced | reconstruction descriptors.
  std::map<data::lfw_image, index_t> row;
  for (std::size_t i = 0; i < split.test.size(); ++i) row[split.test[i]] = static_cast<index_t>(i);
  const auto recon = eval::reconstruct(ema, test_z, 2026);
  std::cout << "describing " << recon.size(0) << " reconstructions and reduced reals\n";
  const auto& test_f = in.test_f;
  const auto recon_f = in.describe(recon);
  const auto reduced_f = in.describe(test_x);  // the reals at R x R, shown to the engine at its input size
  std::vector<index_t> a, b;
  std::vector<bool> same;
  for (const auto& p : in.pairs) {
    if (p.fold != o.test_fold) continue;
    a.push_back(row.at({p.name1, p.image1}));
    b.push_back(row.at({p.name2, p.image2}));
    same.push_back(p.same);
  }
  const auto dist = [&](const tensor<float>& fa, const tensor<float>& fb) {
    return eval::normalized_distances(data::gather_rows(fa, a), data::gather_rows(fb, b));
  };
  const auto real_real = dist(test_f, test_f);
  const auto real_reduced = dist(test_f, reduced_f);
  auto recon_real = dist(recon_f, test_f);
  for (std::size_t k = 0; k < same.size(); ++k)
    if (!same[k]) recon_real[k] = real_real[k];  // only positive pairs get a reconstruction
  // The FAR = 1e-3 threshold from every impostor pair among the test images (real vs real).
  const auto impostors = eval::impostor_distances(test_f, split.test_labels);
  const double threshold = eval::threshold_at_far(impostors, 1e-3);
  const auto v_real = verify(real_real, same, threshold), v_reduced = verify(real_reduced, same, threshold),
             v_recon = verify(recon_real, same, threshold);
  // Cosines of centred descriptors: how close the engine puts a reconstruction to its target,
  // and (with distillation) where the student agrees with the engine — on unseen reals and on
  // the reconstructions the generator was trained to make the student accept.
  const auto recon_z = standardizer(recon_f);
  const double cos_engine_recon = eval::mean_cosine(recon_z, test_z);
  const double cos_engine_impostors = eval::mean_cosine(eval::impostor_distances(test_z, split.test_labels));
  // Realism: Fréchet distances in the engine's space (raw descriptors) and the student's.
  const auto fd_engine = frechet_of(test_f, recon_f, &reduced_f);
  std::ostringstream student_rows;
  if (blackbox_distill) {
    const auto s_real = train::student_features(student, test_x), s_recon = train::student_features(student, recon);
    const auto fd_student = frechet_of(s_real, s_recon);
    student_rows << std::fixed << std::setprecision(3)
                 << "| mean cos, student: reconstruction vs real, S(G(F(x))) vs S(x) (what distillation sees) | "
                 << eval::mean_cosine(s_recon, s_real) << " |\n"
                 << "| mean cos, student vs engine on the test reals / on the reconstructions | "
                 << eval::mean_cosine(s_real, test_z) << " / " << eval::mean_cosine(s_recon, recon_z) << " |\n"
                 << "| mean cos of impostor pairs of test reals, student | "
                 << eval::mean_cosine(eval::impostor_distances(s_real, split.test_labels)) << " |\n"
                 << "| Fréchet distance, student features: reconstructions / real floor | " << fd_student.reconstruction
                 << " / " << fd_student.floor << " |\n"
                 << "| student refreshes in this run (engine queries on generated images; real images per refresh) | "
                 << refresh.refreshes << " (" << refresh.queries << "; " << o.refresh_reals << ") |\n";
  }
  const double diversity =
      eval::ms_ssim_diversity(ema, test_z.slice_rows(0, std::min<index_t>(200, test_z.size(0))), 77);
  // The grid figure: how sharply the mean power spectrum peaks at period-p lattice frequencies,
  // reconstructions against reals.
  std::ostringstream grid_rows;
  double grid_worst = 0;
  const auto power_recon = eval::mean_power_spectrum(recon), power_real = eval::mean_power_spectrum(test_x);
  for (const index_t p : {index_t(4), index_t(8)}) {
    const double g_recon = eval::lattice_peak_ratio(power_recon, R, p),
                 g_real = eval::lattice_peak_ratio(power_real, R, p);
    grid_worst = std::max(grid_worst, g_recon / g_real);
    grid_rows << std::setprecision(2) << "| grid figure, period " << p
              << " (lattice peak ratio of the mean power spectrum): reconstructions / reals | " << g_recon << " / "
              << g_real << " (" << g_recon / g_real << "x) |\n";
  }
  // The block figure: jumps across the edges of a p x p tiling against those inside (a mosaic).
  double blocks_worst = 0;
  for (const index_t p : {index_t(4), index_t(8)}) {
    const double b_recon = eval::block_edge_ratio(recon, p), b_real = eval::block_edge_ratio(test_x, p);
    blocks_worst = std::max(blocks_worst, b_recon);
    grid_rows << std::setprecision(2) << "| block figure, period " << p
              << " (mean jump across block edges / inside blocks): reconstructions / reals | " << b_recon << " / "
              << b_real << " |\n";
  }
  // The reconstructions themselves (rows in the order of the test images), for other tools.
  io::write_npy(o.out / (tag + "_r" + std::to_string(R) + "_test_reconstructions.npy"), recon);

  // Sheet: real | reconstruction | 4 more v, for the first image of 8 test identities.
  const auto recon_of = [&](const tensor<float>& f, std::uint64_t seed) { return eval::reconstruct(ema, f, seed); };
  io::write_png(o.out / (tag + "_sheet.png"),
                eval::reconstruction_sheet(recon_of, data::gather_rows(test_x, pick), data::gather_rows(test_z, pick)));
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - in.t0).count();
  std::ostringstream md;
  md << std::fixed << std::setprecision(2) << "# " << o.model << " on LFW faces from " << in.engine
     << "'s descriptors (" << R << "x" << R << ", "
     << (!o.terms.distill ? "no distillation"
         : o.whitebox     ? "whitebox: distillation through the engine itself"
                          : "blackbox: student distillation")
     << ")\n\n"
     << "Engine faces: " << in.faces << ". Test: the " << split.test.size() << " images of the "
     << split.test_identities << " identities of pairs.txt fold " << o.test_fold + 1
     << " (unseen in training), its 600 pairs as 10 sub-folds of 60. Training: " << split.train.size() << " images of "
     << split.train_identities << " other identities.\n\n"
     << "| comparison | 10-fold accuracy | TAR @ FAR 1e-3 (official negatives) | TAR @ FAR 1e-3 (all "
     << impostors.size() << " impostor pairs) |\n|---|---|---|---|\n";
  const auto line = [&](const std::string& name, const verification_figures& v) {
    md << "| " << name << " | " << 100 * v.accuracy << " % ± " << 100 * v.accuracy_std << " | " << 100 * v.tar_official
       << " % (" << v.official_false_accepts << " false accepts) | " << 100 * v.tar_all_impostors << " % |\n";
  };
  line("real vs real", v_real);
  line("real vs real reduced to " + std::to_string(R) + " and back", v_reduced);
  line("reconstruction vs real (positive pairs)", v_recon);
  md << "\n| figure | value |\n|---|---|\n"
     << std::setprecision(3) << "| mean cos (centred descriptors), engine: reconstruction vs its descriptor F(x) | "
     << cos_engine_recon << " |\n"
     << "| mean cos of impostor pairs of test reals, engine (the floor) | " << cos_engine_impostors << " |\n"
     << std::setprecision(4) << "| Fréchet distance, engine descriptors: reconstructions / reals reduced to " << R
     << " / real floor | " << fd_engine.reconstruction << " / " << fd_engine.reduced << " / " << fd_engine.floor
     << " |\n"
     << student_rows.str() << grid_rows.str() << "| MS-SSIM diversity (200 descriptors, 2 v each) | "
     << std::setprecision(3) << diversity << " |\n"
     << "| generator steps | " << res.steps << " (batch " << go.batch << "; this run " << res.steps - res.resumed_from
     << " steps, " << std::setprecision(1) << img_s << " images/s) |\n"
     << "| terms | adv " << o.terms.adversarial << ", recon " << o.terms.recon << ", distill " << o.terms.distill
     << ", biject " << o.terms.biject << " |\n"
     << "| wall time of the whole run | " << total << " s |\n\n"
     << "![real | reconstruction | 4 more v](" << tag << "_sheet.png)\n";
  const auto report = md.str();
  io::write_file_atomic(o.out / (tag + "_report.md"),
                        {reinterpret_cast<const unsigned char*>(report.data()), report.size()});
  std::cout << md.str();
  std::cout << "RESULT engine=" << in.engine << " model=" << o.model << " r=" << R
            << " recon_accuracy=" << std::setprecision(4) << v_recon.accuracy
            << " recon_tar_all=" << v_recon.tar_all_impostors << " reduced_accuracy=" << v_reduced.accuracy
            << " real_accuracy=" << v_real.accuracy << " cos=" << cos_engine_recon << " fd=" << fd_engine.reconstruction
            << " fd_floor=" << fd_engine.floor << " grid=" << grid_worst << " blocks=" << blocks_worst
            << " ms_ssim=" << diversity << " distill=" << o.terms.distill << " whitebox=" << o.whitebox
            << " biject=" << o.terms.biject << " seed=" << o.seed << "\n";
  return 0;
}

// run for descriptors of size D at the size and model the options ask for (faces_lfw.hpp).
template <index_t D>
int run_for(const inputs& in) {
  if (in.o.model == "dabgan")
    return in.o.quick ? run<32, models::dabgan<dab_cfg<32, D>>>(in) : run<64, models::dabgan<dab_cfg<64, D>>>(in);
  return in.o.quick ? run<32, models::dibigan<cnn_cfg<32, D>>>(in) : run<64, models::dibigan<cnn_cfg<64, D>>>(in);
}

}  // namespace faces_lfw

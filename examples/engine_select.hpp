// --engine FOLDER for the examples: recognises which real engine a folder holds (dlib's ResNet
// from face-api, or a file engine of ../shared/data/face-engines: arcface512 (ONNX), faceres1024
// and mobilefacenet192 (TF.js graph models)) and calls the example's
// code with that engine's type, its LFW crop and its name. Each engine is a different C++ type
// (its feature dim and image shape are compile-time), so the example body is a generic lambda.
#pragma once

#include <filesystem>
#include <string>

#include <bijgan/data/lfw.hpp>
#include <bijgan/engines/dlib_resnet.hpp>
#include <bijgan/engines/tfjs_engine.hpp>
#ifdef BIJGAN_HAVE_ONNX
#include <bijgan/engines/onnx_engine.hpp>
#endif

namespace examples {

/// Loads the engine in `folder` and returns f(engine, crop, name): `crop` is where that engine
/// expects the face in LFW's 250x250 images and the size it takes. value_error listing what
/// was looked for when the folder holds no known engine.
template <class F>
int with_engine(const std::filesystem::path& folder, F&& f) {
  namespace fs = std::filesystem;
  if (fs::exists(folder / bijgan::engines::dlib_resnet::manifest_name) ||
      fs::exists(folder / "model" / bijgan::engines::dlib_resnet::manifest_name) ||
      fs::exists(folder / "package" / "model" / bijgan::engines::dlib_resnet::manifest_name)) {
    const auto engine = bijgan::engines::dlib_resnet::load(folder);
    return f(engine, bijgan::data::face_crop{}, std::string("dlib_resnet"));
  }
  if (fs::exists(folder / "faceres.json")) {
    const auto engine = bijgan::engines::load_faceres1024(folder);
    return f(engine, bijgan::data::face_crop{engine.options().crop, 224}, std::string("faceres1024"));
  }
  if (fs::exists(folder / "mobilefacenet.json")) {
    const auto engine = bijgan::engines::load_mobilefacenet192(folder);
    return f(engine, bijgan::data::face_crop{engine.options().crop, 112}, std::string("mobilefacenet192"));
  }
#ifdef BIJGAN_HAVE_ONNX
  if (fs::exists(folder / "fr_feature.onnx")) {
    const auto engine = bijgan::engines::load_arcface512(folder);
    return f(engine, bijgan::data::face_crop{engine.options().crop, 112}, std::string("arcface512"));
  }
#else
  if (fs::exists(folder / "fr_feature.onnx"))
    bijgan::fail<bijgan::value_error>("--engine", folder,
                                      " holds an ONNX engine, but this build has no ONNX support "
                                      "(apt-get install libonnx-dev libprotobuf-dev, then reconfigure)");
#endif
  bijgan::fail<bijgan::value_error>("--engine", folder, " holds no known engine (looked for ",
                                    bijgan::engines::dlib_resnet::manifest_name,
                                    ", fr_feature.onnx, faceres.json and mobilefacenet.json)");
}

}  // namespace examples

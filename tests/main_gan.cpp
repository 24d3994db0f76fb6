// test_gan: the host tests of the models (DiBiGAN, DAB-GAN, PO-GAN, student), the adversarial
// trainer (schedule, batches, CSV log, exact resume) and the evaluation of reconstructions
// (MS-SSIM). This file only defines the Boost.Test module.
#define BOOST_TEST_MODULE bijgan_gan
#include <boost/test/unit_test.hpp>

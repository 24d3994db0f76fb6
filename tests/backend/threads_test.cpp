// The host backend's thread policy: under thread_policy::adaptive the thread count gives way to
// CPUs that another process keeps busy (a forked child spinning here), and fixed restores the
// count asked for. Linux only (the measurement reads /proc/stat).
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>

#include <chrono>
#include <thread>

#if defined(__linux__)
#include <sys/wait.h>
#include <unistd.h>
#endif

using namespace bijgan;

BOOST_AUTO_TEST_SUITE(threads_suite)

BOOST_AUTO_TEST_CASE(adaptive_threads_give_way_to_other_processes) {
#if defined(__linux__) && defined(_OPENMP)
  const int allowed = detail::cpu_load_sampler::allowed_cpus();
  if (allowed < 2) {
    BOOST_TEST_MESSAGE("skipped: this process may use " << allowed << " CPU");
    return;
  }
  const int before = num_threads();
  const auto policy = current_thread_policy();
  set_thread_policy(thread_policy::adaptive);
  set_num_threads(allowed);
  detail::cpu_load_sampler probe;
  (void)probe.busy_elsewhere();
  const pid_t child = fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {  // another process keeping one CPU busy for 0.6 s
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(600);
    while (std::chrono::steady_clock::now() < end) {
    }
    _exit(0);
  }
  int lowest = allowed;
  for (int i = 0; i < 25; ++i) {  // 0.5 s of checks, one every 100 ms
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    lowest = std::min(lowest, num_threads());
  }
  const double busy = probe.busy_elsewhere();
  waitpid(child, nullptr, 0);
  BOOST_TEST(busy > 0.5, "the child kept " << busy << " CPUs busy");
  BOOST_TEST(lowest < allowed, "threads stayed at " << lowest << " of " << allowed);
  set_thread_policy(thread_policy::fixed);
  BOOST_TEST(num_threads() == allowed);
  set_thread_policy(policy);
  set_num_threads(before);
#else
  BOOST_TEST_MESSAGE("skipped: adaptive threads need Linux and OpenMP");
#endif
}

BOOST_AUTO_TEST_SUITE_END()

#pragma once
// Runs the built zeroplan binary (ZEROPLAN_BINARY) with arguments and captures exit code, stdout and
// stderr. Arguments are single-quoted for the shell.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace zeroplan::testing {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string shell_quote(const std::string& arg) {
  std::string q = "'";
  for (char c : arg) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline RunResult run_zeroplan(const std::vector<std::string>& args) {
  static int counter = 0;
  const std::string base = ::testing::TempDir() + "/zeroplan_cli_" + std::to_string(::getpid()) + "_" +
                           std::to_string(counter++);
  std::string cmd = shell_quote(ZEROPLAN_BINARY);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " >" + shell_quote(base + ".out") + " 2>" + shell_quote(base + ".err");
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(base + ".out");
  r.err = slurp(base + ".err");
  std::remove((base + ".out").c_str());
  std::remove((base + ".err").c_str());
  return r;
}

inline std::string data_path(const std::string& name) {
  return std::string(ZEROPLAN_SOURCE_DIR) + "/tests/cli/data/" + name;
}

}  // namespace zeroplan::testing

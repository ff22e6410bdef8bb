#pragma once
// A plain-text table: columns padded to their widest cell, left- or right-aligned.
#include <string>
#include <vector>

namespace zeroplan::cli {

class TextTable {
 public:
  enum class Align { kLeft, kRight };
  void add_column(std::string header, Align align);
  void add_row(std::vector<std::string> cells);  // one cell per column
  std::string render() const;                    // header + rows, each ending with '\n'

 private:
  std::vector<std::string> headers_;
  std::vector<Align> aligns_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace zeroplan::cli

#include "planner/units.h"

#include <gtest/gtest.h>

#include "planner/error.h"

namespace zeroplan {
namespace {

TEST(ParseBytes, AcceptsDecimalAndBinaryUnits) {
  EXPECT_EQ(parse_bytes("24GiB", "--x"), 24ull * kGiB);
  EXPECT_EQ(parse_bytes("80GB", "--x"), 80'000'000'000ull);
  EXPECT_EQ(parse_bytes("1.5TB", "--x"), 1'500'000'000'000ull);
  EXPECT_EQ(parse_bytes("512 MiB", "--x"), 512ull * kMiB);
  EXPECT_EQ(parse_bytes("4096B", "--x"), 4096ull);
  EXPECT_EQ(parse_bytes("2kib", "--x"), 2048ull);
}

TEST(ParseBytes, RejectsBareNumbersAndUnknownUnits) {
  EXPECT_THROW(parse_bytes("24", "--x"), InputError);
  EXPECT_THROW(parse_bytes("24 parsecs", "--x"), InputError);
  EXPECT_THROW(parse_bytes("-1GB", "--x"), InputError);
  EXPECT_THROW(parse_bytes("", "--x"), InputError);
  EXPECT_THROW(parse_bytes("GB", "--x"), InputError);
  try {
    parse_bytes("24", "--cpu-memory");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--cpu-memory"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("no unit"), std::string::npos);
  }
}

TEST(ParseElements, AcceptsDeepSpeedStyleCounts) {
  EXPECT_EQ(parse_elements("5e8", "--x"), 500'000'000ull);
  EXPECT_EQ(parse_elements("500M", "--x"), 500'000'000ull);
  EXPECT_EQ(parse_elements("123", "--x"), 123ull);
  EXPECT_THROW(parse_elements("5GB", "--x"), InputError);
  EXPECT_THROW(parse_elements("-5", "--x"), InputError);
}

TEST(FormatBytes, UsesBinaryUnitsWithOneDecimal) {
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(3 * kGiB / 2), "1.5 GiB");
  EXPECT_EQ(format_gib(24 * kGiB), "24.0");
  EXPECT_EQ(format_count(6'738'415'616ull), "6.74 B");
}

}  // namespace
}  // namespace zeroplan

#pragma once
// zeroplan gloo_compat (see ../../README.md): nothing from gloo/common/error.h is used by ProcessGroupGloo.hpp.

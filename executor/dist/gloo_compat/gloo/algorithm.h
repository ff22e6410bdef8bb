#pragma once
// zeroplan gloo_compat (see ../README.md): nothing from gloo/algorithm.h is used by ProcessGroupGloo.hpp.
#include "gloo/context.h"

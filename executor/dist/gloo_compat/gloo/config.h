#pragma once
// zeroplan gloo_compat (see ../README.md).

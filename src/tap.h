// Umbrella include for the core room: errors, random numbers, arena, constants.
#ifndef TAP_TAP_H
#define TAP_TAP_H

#include "arena.h"
#include "error.h"
#include "rng.h"

#define TAP_PI 3.14159265358979323846
#define TAP_VERSION "0.1.0"

#endif

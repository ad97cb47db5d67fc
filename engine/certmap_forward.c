/*
 * certmap_forward.c - header values for CertMapForward.
 * (Placeholder: being written.)
 */
#include "certmap_forward.h"

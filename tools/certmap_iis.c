/* certmap_iis.c - IIS applicationHost.config import (placeholder). */
#include "certmap_iis.h"

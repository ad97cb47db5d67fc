/* certmap_index.c - compiled map files (placeholder: being written). */
#include "certmap_index.h"

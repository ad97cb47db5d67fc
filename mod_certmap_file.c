/* mod_certmap_file.c - CertMapFile: compiled, shared, reloadable map
 * files (placeholder: being written). */
#include "mod_certmap.h"

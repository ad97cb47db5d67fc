/* certmap_iis.h - IIS applicationHost.config import (placeholder). */
#ifndef CERTMAP_IIS_H
#define CERTMAP_IIS_H
#endif

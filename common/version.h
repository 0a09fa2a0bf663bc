/* version.h - the one version string every lblab program prints with -V. */
#ifndef LBLAB_VERSION_H
#define LBLAB_VERSION_H

#define LBLAB_VERSION "0.1.0"

#endif

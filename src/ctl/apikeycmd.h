/* chargegatectl api-key create NAME | list | revoke NAME (DESIGN §3, §8). */
#ifndef CHARGEGATE_APIKEYCMD_H
#define CHARGEGATE_APIKEYCMD_H

struct Config;

/* argv: what follows "api-key"; returns the exit status. */
int ctl_api_key(const struct Config *cfg, int argc, char **argv);

#endif

#include "paths.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static const char *home_dir(void)
{
    const char *home = getenv("HOME");
    if (home && home[0] == '/')
        return home;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_dir ? pw->pw_dir : "/";
}

/* systemd sets STATE_DIRECTORY to a colon-separated list when a unit has
 * several StateDirectory= entries; ours has one, the first is it. */
static char *first_of_list(const char *list)
{
    size_t n = strcspn(list, ":");
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, list, n);
        p[n] = '\0';
    }
    return p;
}

char *paths_default_state_dir(void)
{
    const char *sd = getenv("STATE_DIRECTORY");
    if (sd && sd[0] == '/')
        return first_of_list(sd);
    if (geteuid() == 0)
        return strdup("/var/lib/qmgr");
    /* The XDG spec says a relative XDG_STATE_HOME is invalid and ignored. */
    const char *xdg = getenv("XDG_STATE_HOME");
    if (xdg && xdg[0] == '/')
        return join_path(xdg, "qmgr");
    return join_path(home_dir(), ".local/state/qmgr");
}

char *paths_authkey_in(const char *state_dir)
{
    const char *creds = getenv("CREDENTIALS_DIRECTORY");
    if (creds && creds[0] == '/')
        return join_path(creds, "authkey");
    return join_path(state_dir, "authkey");
}

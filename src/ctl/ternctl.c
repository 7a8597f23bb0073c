/*
 * ternctl: the administrator's command. "check" validates a configuration
 * and the users and aliases files it names, reporting file:line.
 */
#include <stdio.h>
#include <string.h>

#include "../common/buf.h"
#include "../config/config.h"
#include "../route/directory.h"

static int
usage(void)
{
	fprintf(stderr, "usage: ternctl check [-c FILE | FILE]\n");
	return 2;
}

static int
cmd_check(const char *path)
{
	char users[CONFIG_PATH_MAX], aliases[CONFIG_PATH_MAX];
	struct config cfg;
	struct buf errs = BUF_INIT;
	struct directory *dir = NULL;
	int rc;

	config_defaults(&cfg);
	rc = config_load(&cfg, path, &errs);
	if (config_path(&cfg, cfg.users_file, users, sizeof(users)) == -1 ||
	    config_path(&cfg, cfg.aliases_file, aliases, sizeof(aliases)) == -1) {
		buf_printf(&errs, "%s: users_file or aliases_file path too long\n", path);
		rc = -1;
	} else if ((dir = directory_load(users, aliases, &errs)) == NULL)
		rc = -1;
	if (rc == -1) {
		fprintf(stderr, "%s", buf_cstr(&errs));
		buf_release(&errs);
		directory_free(&dir);
		return 1;
	}
	printf("%s: ok (%zu domains, %zu users, %zu listeners)\n", path,
	    cfg.ndomains, directory_user_count(dir), cfg.nlisteners);
	directory_free(&dir);
	buf_release(&errs);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *path = "./var/ternd.conf";

	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "check") == 0) {
		if (argc == 4 && strcmp(argv[2], "-c") == 0)
			path = argv[3];
		else if (argc == 3)
			path = argv[2];
		else if (argc != 2)
			return usage();
		return cmd_check(path);
	}
	return usage();
}

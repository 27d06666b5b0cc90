/* The end of every unit test's main(): run the suite, exit with its verdict. */
#ifndef CHARGEGATE_UNIT_RUN_H
#define CHARGEGATE_UNIT_RUN_H

#include <check.h>
#include <stdlib.h>

/* Check runs each test in a child process; the exit status says whether any failed. */
static inline int unit_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif

/*
 * tests/support/journal_files.h - the files of a journal a test made.
 */
#ifndef ENS_TESTS_JOURNAL_FILES_H
#define ENS_TESTS_JOURNAL_FILES_H

/* Remove a journal database and the files sqlite keeps beside it (-wal,
 * -shm, -journal), whichever exist. */
void test_journal_remove(const char *db);

#endif

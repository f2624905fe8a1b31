/* tsctl: one file per subcommand, each with its own *_main. */
#ifndef TSCTL_H
#define TSCTL_H
int start_main(int argc, char **argv);
int watch_main(int argc, char **argv);
int seed_main(int argc, char **argv);
int status_main(int argc, char **argv);
int stop_main(int argc, char **argv);
int restart_main(int argc, char **argv);
int logs_main(int argc, char **argv);
int console_main(int argc, char **argv);
int engine_main(int argc, char **argv);
int keygen_main(int argc, char **argv);
int tstream_main(int argc, char **argv);
int probe_main(int argc, char **argv);
int supervise_main(int argc, char **argv);
int help_main(int argc, char **argv);
/* A usage error's closing lines (after the caller's one-line reason): the command's synopsis and
 * where to read more. Returns TS_EXIT_USAGE. cmd NULL: tsctl's own. */
int tsctl_usage_error(const char *cmd);
#endif

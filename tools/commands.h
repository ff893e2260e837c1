// Every `tap` command: one tools/tap_<name>.c each, registered in tools/tap.c.
#ifndef TAP_COMMANDS_H
#define TAP_COMMANDS_H

int tap_average_main(int argc, char **argv);
int tap_export_main(int argc, char **argv);
int tap_decode_main(int argc, char **argv);
int tap_eval_main(int argc, char **argv);
int tap_prep_main(int argc, char **argv);
int tap_render_main(int argc, char **argv);
int tap_serve_main(int argc, char **argv);
int tap_plot_main(int argc, char **argv);
int tap_train_main(int argc, char **argv);
int tap_version_main(int argc, char **argv);

#endif

/*
 * ctl_queue: "ternctl queue list|show|hold|release|delete|bounce|requeue|
 * flush", through ternd's control socket (ctl_control.h).
 */
#ifndef TERN_CTL_QUEUE_H
#define TERN_CTL_QUEUE_H

int ctl_queue(const char *config, int argc, char **argv);

#endif

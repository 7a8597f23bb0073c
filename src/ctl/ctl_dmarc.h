/*
 * ctl_dmarc: "ternctl dmarc report", the DMARC results of one day
 * (DATA_DIR/dmarc/YYYY-MM-DD.log) as a summary per policy domain or as
 * the RFC 9990 XML reports that would be sent.
 */
#ifndef TERN_CTL_DMARC_H
#define TERN_CTL_DMARC_H

/* argv[0] is the first argument after "dmarc". Returns the exit status. */
int ctl_dmarc(const char *config, int argc, char **argv);

#endif

/* libevent-bench: libevent's side of levent's benchmark suite, one subcommand per benchmark.
 * Built by levent-bench's build script against pkg-config libevent (core and extra: evdns); run by the suite's
 * runner, which reads one result line from standard output. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

uint64_t pipechain(int n, int a, int w, uint64_t *events);
int timers(int n, uint64_t seed);
int echo_server(int port, int secs);
uint64_t dns_bench(const char *server, int n, int inflight, int *errors, uint64_t *cpu);
int http_serve(const char *ip, int port, int threads);

int main(int argc, char **argv) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        struct rlimit want = {1 << 18, 1 << 18};
        if (rl.rlim_max >= want.rlim_max || setrlimit(RLIMIT_NOFILE, &want) != 0) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    if (argc == 5 && strcmp(argv[1], "pipechain") == 0) {
        uint64_t events = 0;
        uint64_t ns = pipechain(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), &events);
        printf("%llu %llu\n", (unsigned long long)ns, (unsigned long long)events);
        return ns ? 0 : 1;
    }
    if (argc == 4 && strcmp(argv[1], "timers") == 0) {
        return timers(atoi(argv[2]), strtoull(argv[3], NULL, 10));
    }
    if (argc == 4 && strcmp(argv[1], "echo-server") == 0) {
        return echo_server(atoi(argv[2]), atoi(argv[3]));
    }
    if (argc == 5 && strcmp(argv[1], "dns") == 0) {
        int errors = 0;
        uint64_t cpu = 0;
        int n = atoi(argv[3]);
        uint64_t ns = dns_bench(argv[2], n, atoi(argv[4]), &errors, &cpu);
        printf("%llu %d %llu\n", (unsigned long long)ns, n - errors, (unsigned long long)cpu);
        return ns && errors == 0 ? 0 : 1;
    }
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "http") == 0) {
        return http_serve(argv[2], atoi(argv[3]), argc == 5 ? atoi(argv[4]) : 1);
    }
    fprintf(stderr, "usage: libevent-bench pipechain N A W | timers N SEED | echo-server PORT SECS"
                    " | dns IP:PORT N INFLIGHT | http IP PORT [THREADS]\n");
    return 2;
}

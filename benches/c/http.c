/* The HTTP hello-world on libevent's evhttp: one thread, one event_base, a generic callback
 * answering every request with "Hello, World!". Prints "listening on IP:PORT" once bound (port 0
 * picks a free one) and runs until SIGTERM or SIGINT. */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>

static void hello(struct evhttp_request *req, void *arg) {
    (void)arg;
    struct evbuffer *body = evhttp_request_get_output_buffer(req);
    evbuffer_add(body, "Hello, World!", 13);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
    evhttp_send_reply(req, 200, "OK", NULL);
}

static void stop(evutil_socket_t sig, short which, void *base) {
    (void)sig;
    (void)which;
    event_base_loopbreak(base);
}

int http_serve(const char *ip, int port) {
    struct event_base *base = event_base_new();
    struct evhttp *http = base ? evhttp_new(base) : NULL;
    if (!http) return 1;
    evhttp_set_gencb(http, hello, NULL);
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(http, ip, (unsigned short)port);
    if (!bound) {
        fprintf(stderr, "libevent-bench: cannot bind %s:%d\n", ip, port);
        return 1;
    }
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &len) != 0) return 1;
    printf("listening on %s:%d\n", ip, ntohs(sin.sin_port));
    fflush(stdout);
    struct event *term = evsignal_new(base, SIGTERM, stop, base);
    struct event *intr = evsignal_new(base, SIGINT, stop, base);
    event_add(term, NULL);
    event_add(intr, NULL);
    event_base_dispatch(base);
    event_free(term);
    event_free(intr);
    evhttp_free(http);
    event_base_free(base);
    return 0;
}

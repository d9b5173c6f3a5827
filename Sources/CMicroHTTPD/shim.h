#ifndef CMICROHTTPD_SHIM_H
#define CMICROHTTPD_SHIM_H
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#ifdef __linux__
#include <netinet/tcp.h>
#endif
#include <string.h>
#include <microhttpd.h>

/* Bytes the kernel has received on a TCP socket (tcp_info's tcpi_bytes_received, Linux 4.1 and later), or -1 when
 * the kernel does not say. glibc's struct tcp_info ends before that field, so it is read from the kernel's layout
 * (linux/tcp.h: offset 128, an ABI that only grows at its end). */
static inline int64_t cmhd_socket_bytes_received(int descriptor) {
#ifndef __linux__
    (void)descriptor;
    return -1;
#else
    unsigned char info[256];
    socklen_t length = sizeof(info);
    memset(info, 0, sizeof(info));
    if (getsockopt(descriptor, IPPROTO_TCP, TCP_INFO, info, &length) != 0 || length < 136) {
        return -1;
    }
    uint64_t bytes;
    memcpy(&bytes, info + 128, sizeof(bytes));
    return (int64_t)bytes;
#endif
}

/* Macros Swift cannot import (they cast). */
static const ssize_t CMHD_CONTENT_READER_END_OF_STREAM = MHD_CONTENT_READER_END_OF_STREAM;
static const ssize_t CMHD_CONTENT_READER_END_WITH_ERROR = MHD_CONTENT_READER_END_WITH_ERROR;
static const uint64_t CMHD_SIZE_UNKNOWN = MHD_SIZE_UNKNOWN;

/* The URI log callback has no typedef in microhttpd.h. */
typedef void *(*CMHD_URILogCallback)(void *context, const char *uri, struct MHD_Connection *connection);

/* MHD_start_daemon is variadic: start it with an option array (MHD_OPTION_ARRAY) instead. */
static inline struct MHD_Daemon *cmhd_start_daemon(
    unsigned int flags, uint16_t port, MHD_AccessHandlerCallback handler, void *handler_context,
    const struct MHD_OptionItem *options) {
    return MHD_start_daemon(
        flags, port, NULL, NULL, handler, handler_context, MHD_OPTION_ARRAY, options, MHD_OPTION_END);
}

/* Option items; the casts of callbacks to intptr_t are the ones MHD_OPTION_ARRAY documents. */
static inline struct MHD_OptionItem cmhd_option_value(enum MHD_OPTION option, intptr_t value) {
    struct MHD_OptionItem item = {option, value, NULL};
    return item;
}

static inline struct MHD_OptionItem cmhd_option_pointer(enum MHD_OPTION option, void *pointer) {
    struct MHD_OptionItem item = {option, 0, pointer};
    return item;
}

static inline struct MHD_OptionItem cmhd_option_notify_completed(
    MHD_RequestCompletedCallback callback, void *context) {
    struct MHD_OptionItem item = {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)callback, context};
    return item;
}

static inline struct MHD_OptionItem cmhd_option_notify_connection(
    MHD_NotifyConnectionCallback callback, void *context) {
    struct MHD_OptionItem item = {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)callback, context};
    return item;
}

static inline struct MHD_OptionItem cmhd_option_uri_log(CMHD_URILogCallback callback, void *context) {
    struct MHD_OptionItem item = {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)callback, context};
    return item;
}

static inline struct MHD_OptionItem cmhd_option_logger(MHD_LogCallback callback, void *context) {
    struct MHD_OptionItem item = {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)callback, context};
    return item;
}

static inline struct MHD_OptionItem cmhd_option_end(void) {
    struct MHD_OptionItem item = {MHD_OPTION_END, 0, NULL};
    return item;
}

/* MHD_get_connection_info, MHD_get_daemon_info and MHD_set_connection_option are variadic. */
static inline int cmhd_connection_fd(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info == NULL ? -1 : info->connect_fd;
}

static inline const struct sockaddr *cmhd_connection_address(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return info == NULL ? NULL : info->client_addr;
}

static inline void *cmhd_connection_socket_context(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info == NULL ? NULL : info->socket_context;
}

/* Bytes of the request line and headers; 0 before they are in. */
static inline size_t cmhd_connection_header_size(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    return info == NULL ? 0 : info->header_size;
}

static inline uint16_t cmhd_daemon_port(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info == NULL ? 0 : info->port;
}

/* Formats a libmicrohttpd log message (printf format and va_list). */
static inline int cmhd_format(char *buffer, size_t size, const char *format, va_list arguments) {
    return vsnprintf(buffer, size, format, arguments);
}
#endif

# The daemon's input parsers: the journal reader (replay of arbitrary files)
# and the params checker behind every method.
# Every daemon source but main.c, and the protocol's.
set(server_fuzz_sources
    ${qmgr_root}/server/block.c
    ${qmgr_root}/server/buf.c
    ${qmgr_root}/server/buf_methods.c
    ${qmgr_root}/server/cluster.c
    ${qmgr_root}/server/cluster_input.c
    ${qmgr_root}/server/cluster_fingerprint.c
    ${qmgr_root}/server/cluster_snapshot.c
    ${qmgr_root}/server/conn.c
    ${qmgr_root}/server/dispatch.c
    ${qmgr_root}/server/hash.c
    ${qmgr_root}/server/info_methods.c
    ${qmgr_root}/server/input.c
    ${qmgr_root}/server/itemq.c
    ${qmgr_root}/server/jetstream.c
    ${qmgr_root}/server/journal.c
    ${qmgr_root}/server/journal_replay.c
    ${qmgr_root}/server/listen.c
    ${qmgr_root}/server/log_codec.c
    ${qmgr_root}/server/metrics.c
    ${qmgr_root}/server/metrics_text.c
    ${qmgr_root}/server/notify.c
    ${qmgr_root}/server/pairs.c
    ${qmgr_root}/server/params.c
    ${qmgr_root}/server/queue.c
    ${qmgr_root}/server/queue_methods.c
    ${qmgr_root}/server/record.c
    ${qmgr_root}/server/registry.c
    ${qmgr_root}/server/reply.c
    ${qmgr_root}/server/restore.c
    ${qmgr_root}/server/server.c
    ${qmgr_root}/server/session.c
    ${qmgr_root}/server/state.c
    ${qmgr_root}/server/tls.c
    ${qmgr_root}/server/waiting.c
    ${qmgr_root}/proto/errors.c
    ${qmgr_root}/proto/handshake_client.c
    ${qmgr_root}/proto/handshake_mac.c
    ${qmgr_root}/proto/handshake_server.c
    ${qmgr_root}/proto/mp.c
    ${qmgr_root}/proto/rpc.c
    ${qmgr_root}/proto/tls_error.c
     ${qmgr_root}/common/address.c ${qmgr_root}/common/bytes.c ${qmgr_root}/common/log.c
     ${qmgr_root}/common/authkey.c ${qmgr_root}/common/config.c ${qmgr_root}/common/crc32c.c
     ${qmgr_root}/common/paths.c)

foreach(target fuzz_journal fuzz_params)
  qmgr_fuzz_target(${target} SOURCES ${server_fuzz_sources}
                   LIBS PkgConfig::MSGPACK PkgConfig::SODIUM PkgConfig::NETTLE
                        PkgConfig::LIBEVENT PkgConfig::LIBEVENT_EXTRA PkgConfig::INIH
                        PkgConfig::ISAL PkgConfig::NATS PkgConfig::ZSTD OpenSSL::SSL
                        Threads::Threads m)
endforeach()

# The messages of a cluster's log (from JetStream, compressed or not), the
# inputs they hold and the requests those carry.
qmgr_fuzz_target(fuzz_cluster_input
                 SOURCES ${qmgr_root}/server/cluster_input.c ${qmgr_root}/server/log_codec.c
                         ${qmgr_root}/proto/mp.c ${qmgr_root}/proto/rpc.c
                         ${qmgr_root}/common/bytes.c
                 LIBS PkgConfig::MSGPACK PkgConfig::ZSTD)

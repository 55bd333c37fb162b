/* store_sql.c: the store over sql.h, one body for both back ends, SQLite and PostgreSQL. One connection per
 * yun_store (SQLite: WAL, readers never block the writer, foreign keys on), every statement of the table
 * prepared once per handle and kept. Enums are stored by name ("running"), so the database reads well in the
 * sqlite3 shell or psql and survives reordering an enum. The SQL is written once, in the dialect sql.h states. */
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/sql.h"
#include "store/store_impl.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

/* ---- migrations: migrations[v] takes a database from version v to v + 1; never edit a landed one ---- */
/* What VMs reserve on host h (store_host_use), over the VMs placed there (v.host_id = h.id) and those migrating away
 * from it (v.migrate_from = h.id): mhz, vms, last_vm_id, cpus, mem_mib, disk_mib, min_mhz, max_mhz; GROUP BY h.id,
 * h.mhz. Written once for migration 21's fill and each host's refresh (host_use_refresh). */
#define HOST_USE_OF_HOSTS                                                                                              \
    "SELECT h.id, h.mhz, sum(CASE WHEN v.host_id = h.id THEN 1 ELSE 0 END), "                                          \
    "COALESCE(max(CASE WHEN v.host_id = h.id THEN v.id END), 0), sum(v.cpus), "                                        \
    "sum(CASE WHEN v.max_mem_mib > 0 THEN v.max_mem_mib ELSE v.mem_mib END), sum(v.disk_mib), sum(v.min_mhz), "        \
    "sum(CASE WHEN v.max_mhz > 0 AND v.max_mhz < v.cpus * h.mhz THEN v.max_mhz ELSE v.cpus * h.mhz END) "              \
    "FROM hosts h JOIN vms v ON v.host_id = h.id OR v.migrate_from = h.id "
/* What an owner's VMs hold, for quotas (store_usage): VMs not wanted deleted */
#define OWNER_USE_COUNTED "want <> 'deleted'"

static const char *const migrations[] = {
    /* 0 -> 1: the first schema */
    "CREATE TABLE users ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL UNIQUE,"
    " is_admin INTEGER NOT NULL DEFAULT 0,"
    " token_hash TEXT NOT NULL DEFAULT '',"
    " max_vms INTEGER NOT NULL DEFAULT 0,"
    " max_cpus INTEGER NOT NULL DEFAULT 0,"
    " max_mem_mib INTEGER NOT NULL DEFAULT 0,"
    " max_disk_mib INTEGER NOT NULL DEFAULT 0,"
    " created_ms INTEGER NOT NULL);"
    /* partial: users without a token share '' and must never match a lookup */
    "CREATE INDEX users_token_hash ON users(token_hash) WHERE token_hash <> '';"
    "CREATE TABLE images ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL UNIQUE,"
    " owner_id INTEGER REFERENCES users(id),"
    " is_public INTEGER NOT NULL DEFAULT 0,"
    " path TEXT NOT NULL DEFAULT '',"
    " kernel TEXT NOT NULL DEFAULT '',"
    " initrd TEXT NOT NULL DEFAULT '',"
    " cmdline TEXT NOT NULL DEFAULT '',"
    " size_mib INTEGER NOT NULL DEFAULT 0,"
    " created_ms INTEGER NOT NULL);"
    "CREATE TABLE hosts ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL UNIQUE,"
    " cores INTEGER NOT NULL DEFAULT 0,"
    " mhz INTEGER NOT NULL DEFAULT 0,"
    " mem_mib INTEGER NOT NULL DEFAULT 0,"
    " disk_total_mib INTEGER NOT NULL DEFAULT 0,"
    " disk_free_mib INTEGER NOT NULL DEFAULT 0,"
    " hypervisor TEXT NOT NULL DEFAULT '',"
    " accel TEXT NOT NULL DEFAULT '',"
    " libvirt_uri TEXT NOT NULL DEFAULT '',"
    " migrate_addr TEXT NOT NULL DEFAULT '',"
    " state TEXT NOT NULL DEFAULT 'up',"
    " last_seen_ms INTEGER NOT NULL DEFAULT 0,"
    " registered_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE vms ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " uuid TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL,"
    " owner_id INTEGER NOT NULL REFERENCES users(id),"
    " image_id INTEGER REFERENCES images(id),"
    " cpus INTEGER NOT NULL,"
    " mem_mib INTEGER NOT NULL,"
    " max_mem_mib INTEGER NOT NULL,"
    " disk_mib INTEGER NOT NULL,"
    " cpu_shares INTEGER NOT NULL,"
    " cpu_cap INTEGER NOT NULL,"
    " min_mhz INTEGER NOT NULL,"
    " max_mhz INTEGER NOT NULL,"
    " want TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " host_id INTEGER REFERENCES hosts(id),"
    " error TEXT NOT NULL DEFAULT '',"
    " address TEXT NOT NULL DEFAULT '',"
    " created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL,"
    " started_ms INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE (owner_id, name));"
    "CREATE INDEX vms_host ON vms(host_id);"
    "CREATE INDEX vms_image ON vms(image_id);" /* keeps the foreign-key check of an image delete cheap */
    "CREATE INDEX images_owner ON images(owner_id);"
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE TABLE consoles ("
    " vm_uuid TEXT PRIMARY KEY REFERENCES vms(uuid) ON DELETE CASCADE,"
    " data BLOB NOT NULL,"
    " updated_ms INTEGER NOT NULL);",
    /* 1 -> 2: passwords and browser sessions for the portal. The password hash is an argon2id string from
     * libsodium (salt and cost inside it); '' means "no password: token only". A session is kept by the hash of
     * its cookie token, so a copy of the file lets nobody in. */
    "ALTER TABLE users ADD COLUMN password_hash TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE sessions ("
    " token_hash TEXT PRIMARY KEY,"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " created_ms INTEGER NOT NULL,"
    " expires_ms INTEGER NOT NULL);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE INDEX sessions_expires ON sessions(expires_ms);",
    /* 2 -> 3: a VM's HTTP probe (issue 4 monitoring), measured by its host's agent every metrics interval */
    "ALTER TABLE vms ADD COLUMN probe TEXT NOT NULL DEFAULT '';",
    /* 3 -> 4: live migration and host drain. While a VM migrates, host_id is the target and migrate_from the
     * source; migrate_error keeps why the last migration failed, so a drain does not retry it every tick.
     * Hosts gain the states 'draining' and 'drained' (state is free text: no change to the table). */
    "ALTER TABLE vms ADD COLUMN migrate_from INTEGER;"
    "ALTER TABLE vms ADD COLUMN migrate_error TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX vms_migrate_from ON vms(migrate_from) WHERE migrate_from IS NOT NULL;",
    /* 4 -> 5: a host's management address (agent --mgmt-addr), where its guests' VNC listens: a VM migrating
     * there gets it in its destination XML */
    "ALTER TABLE hosts ADD COLUMN mgmt_addr TEXT NOT NULL DEFAULT '';",
    /* 5 -> 6: the last live migration's figures, shown with the VM (issue 10, item 6) */
    "ALTER TABLE vms ADD COLUMN migrate_total_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE vms ADD COLUMN migrate_downtime_ms INTEGER NOT NULL DEFAULT 0;",
    /* 6 -> 7: how yund switches a host off and on (src/power), and when it last asked (issue 10, item 4).
     * Hosts gain the states 'powering-off', 'standby' and 'waking' (free text: no change to the column). */
    "ALTER TABLE hosts ADD COLUMN power_driver TEXT NOT NULL DEFAULT 'none';"
    "ALTER TABLE hosts ADD COLUMN power_address TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE hosts ADD COLUMN power_user TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE hosts ADD COLUMN power_secret TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE hosts ADD COLUMN power_command TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE hosts ADD COLUMN power_changed_ms INTEGER NOT NULL DEFAULT 0;",
    /* 7 -> 8: the CPU the placement algorithm allocates a running VM (issue 10, item 2) */
    "ALTER TABLE vms ADD COLUMN alloc_mhz INTEGER NOT NULL DEFAULT 0;",
    /* 8 -> 9: a VM's utility per MHz, by which emm, pemm and yun give out spare CPU (issue 10) */
    "ALTER TABLE vms ADD COLUMN utility INTEGER NOT NULL DEFAULT 1;",
    /* 9 -> 10: the dispatcher's decisions, so its log outlives a restart (kind: ctl/dispatch.h's dispatch_kind) */
    "CREATE TABLE decisions ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " at_ms INTEGER NOT NULL,"
    " kind INTEGER NOT NULL,"
    " vm_uuid TEXT NOT NULL,"
    " vm TEXT NOT NULL,"
    " vm_id INTEGER NOT NULL,"
    " from_id INTEGER NOT NULL,"
    " to_id INTEGER NOT NULL,"
    " from_host TEXT NOT NULL,"
    " to_host TEXT NOT NULL,"
    " reason TEXT NOT NULL,"
    " outcome TEXT NOT NULL);",
    /* 10 -> 11: a VM's HA: -1 off, else the order its restart takes when its host dies (issue 11) */
    "ALTER TABLE vms ADD COLUMN ha_priority INTEGER NOT NULL DEFAULT 0;",
    /* 11 -> 12: jobs on VMs' disks that agents do: backups, snapshots, reverts, restores (model.h's yun_job).
     * No reference to vms: a backup outlives its VM. */
    "CREATE TABLE jobs ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " kind TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " owner_id INTEGER NOT NULL,"
    " vm_uuid TEXT NOT NULL,"
    " vm_name TEXT NOT NULL,"
    " host_id INTEGER NOT NULL,"
    " parent_id INTEGER NOT NULL,"
    " incremental INTEGER NOT NULL,"
    " name TEXT NOT NULL,"
    " path TEXT NOT NULL,"
    " bytes INTEGER NOT NULL,"
    " sha256 TEXT NOT NULL,"
    " memory INTEGER NOT NULL,"
    " image_id INTEGER NOT NULL,"
    " cpus INTEGER NOT NULL,"
    " mem_mib INTEGER NOT NULL,"
    " disk_mib INTEGER NOT NULL,"
    " note TEXT NOT NULL,"
    " error TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " done_ms INTEGER NOT NULL,"
    " duration_ms INTEGER NOT NULL,"
    " pause_ms INTEGER NOT NULL,"
    " start_after INTEGER NOT NULL);"
    "CREATE INDEX jobs_vm ON jobs (vm_uuid);"
    "CREATE INDEX jobs_host_state ON jobs (host_id, state);"
    "CREATE TABLE backup_schedules ("
    " vm_uuid TEXT PRIMARY KEY,"
    " owner_id INTEGER NOT NULL,"
    " every_ms INTEGER NOT NULL,"
    " keep INTEGER NOT NULL,"
    " next_ms INTEGER NOT NULL);",
    /* 12 -> 13, 13 -> 14, 14 -> 15: no-ops, landed as such (numbers held for branches merged later; never
     * to be filled in: a database at 16 ran them, so those branches take 17 and up) */
    "SELECT 1;",
    "SELECT 1;",
    "SELECT 1;",
    /* 15 -> 16: per-host credentials (store.h's yun_host_key): a one-time join token and then the host's own
     * credential, both as hex SHA-256, by host name (a key exists before its host first registers) */
    "CREATE TABLE host_keys ("
    " name TEXT PRIMARY KEY,"
    " join_hash TEXT NOT NULL,"
    " join_expires_ms INTEGER NOT NULL,"
    " cred_hash TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL);"
    "CREATE INDEX host_keys_join ON host_keys (join_hash) WHERE join_hash <> '';"
    "CREATE INDEX host_keys_cred ON host_keys (cred_hash) WHERE cred_hash <> '';",
    /* 16 -> 17: users' SSH public keys, and each VM's cloud-init user-data as rendered at its create (the keys
     * it was given, as they were then, and the user's own user-data: src/model/seed.h) */
    "CREATE TABLE ssh_keys ("
    " id INTEGER PRIMARY KEY,"
    " owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " pubkey TEXT NOT NULL,"
    " fingerprint TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " UNIQUE (owner_id, name));"
    "CREATE TABLE seeds ("
    " vm_uuid TEXT PRIMARY KEY REFERENCES vms(uuid) ON DELETE CASCADE,"
    " user_data BLOB NOT NULL);",
    /* 17 -> 18: cloud networks that span hosts (model/net.h) and yund's IPAM: one address per VM, unique per
     * network, gone with the VM (cascade); a network with leases cannot be deleted (restrict) */
    "CREATE TABLE networks ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL,"
    " owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " subnet TEXT NOT NULL,"
    " vni INTEGER NOT NULL UNIQUE,"
    " is_public INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " UNIQUE (owner_id, name));"
    "CREATE TABLE leases ("
    " vm_id INTEGER PRIMARY KEY REFERENCES vms(id) ON DELETE CASCADE,"
    " network_id INTEGER NOT NULL REFERENCES networks(id) ON DELETE RESTRICT,"
    " ip TEXT NOT NULL,"
    " UNIQUE (network_id, ip));",
    /* 18 -> 19: failed logins per user name and per client address (store.h's yun_login_failure), kept here so
     * a restart does not lift a lock and several controllers share them; and the audit log of every change
     * (yun_audit), pruned by age */
    "CREATE TABLE login_failures ("
    " key TEXT PRIMARY KEY,"
    " failures INTEGER NOT NULL,"
    " last_ms INTEGER NOT NULL);"
    "CREATE TABLE audit ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " at_ms INTEGER NOT NULL,"
    " \"user\" TEXT NOT NULL," /* quoted: a reserved word of PostgreSQL's (the same column on SQLite) */
    " action TEXT NOT NULL,"
    " target TEXT NOT NULL,"
    " address TEXT NOT NULL,"
    " status INTEGER NOT NULL,"
    " result TEXT NOT NULL);"
    "CREATE INDEX audit_at ON audit (at_ms);"
    "CREATE INDEX audit_user ON audit (\"user\", at_ms);",
    /* 19 -> 20: virtual clusters (model/cluster.h): members are the owner's VMs by name; the network stays while
     * the cluster does (restrict), and the row goes with its owner */
    "CREATE TABLE clusters ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " nodes INTEGER NOT NULL,"
    " image_id INTEGER NOT NULL,"
    " head_image_id INTEGER NOT NULL,"
    " cpus INTEGER NOT NULL,"
    " mem_mib INTEGER NOT NULL,"
    " network_id INTEGER NOT NULL REFERENCES networks(id) ON DELETE RESTRICT,"
    " own_network INTEGER NOT NULL,"
    " deleting INTEGER NOT NULL DEFAULT 0,"
    " pubkey TEXT NOT NULL,"
    " privkey TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " UNIQUE (owner_id, name));",
    /* 20 -> 21: the sums placement and quotas read on every create, kept beside the VMs (each VM write refreshes
     * them in its transaction: sums_apply) instead of summed over every VM each time, which was 72% of a create
     * at 12,000 VMs (docs/PERFORMANCE.md, runs 7 and 8). host_use: one row per host some VM uses, mhz the host's when summed (a host whose MHz
     * changed since is summed afresh when read). owner_use: one row per owner with VMs not wanted deleted. */
    "CREATE TABLE host_use ("
    " host_id INTEGER PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,"
    " mhz INTEGER NOT NULL,"
    " vms INTEGER NOT NULL,"
    " last_vm_id INTEGER NOT NULL,"
    " cpus INTEGER NOT NULL,"
    " mem_mib INTEGER NOT NULL,"
    " disk_mib INTEGER NOT NULL,"
    " min_mhz INTEGER NOT NULL,"
    " max_mhz INTEGER NOT NULL);"
    "INSERT INTO host_use (host_id, mhz, vms, last_vm_id, cpus, mem_mib, disk_mib, min_mhz, max_mhz) "
    HOST_USE_OF_HOSTS "GROUP BY h.id, h.mhz;"
    "CREATE TABLE owner_use ("
    " owner_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,"
    " vms INTEGER NOT NULL,"
    " cpus INTEGER NOT NULL,"
    " mem_mib INTEGER NOT NULL,"
    " disk_mib INTEGER NOT NULL);"
    "INSERT INTO owner_use (owner_id, vms, cpus, mem_mib, disk_mib) SELECT owner_id, count(*), sum(cpus), "
    "sum(max_mem_mib), sum(disk_mib) FROM vms WHERE " OWNER_USE_COUNTED " GROUP BY owner_id;",
};
_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
               "one migration per schema version: bump STORE_SCHEMA_VERSION with each new migration");

/* ---- statements ---- */
#define HOST_KEY_COLS "name, join_hash, join_expires_ms, cred_hash, created_ms"
#define USER_COLS "id, name, is_admin, token_hash, max_vms, max_cpus, max_mem_mib, max_disk_mib, created_ms"
#define IMAGE_COLS "id, name, COALESCE(owner_id, 0), is_public, path, kernel, initrd, cmdline, size_mib, created_ms"
#define HOST_COLS                                                                                                      \
    "id, name, cores, mhz, mem_mib, disk_total_mib, disk_free_mib, hypervisor, accel, libvirt_uri, migrate_addr, "     \
    "state, last_seen_ms, registered_ms, mgmt_addr, power_driver, power_address, power_user, power_secret, "           \
    "power_command, power_changed_ms"
#define VM_SELECT                                                                                                      \
    "SELECT v.id, v.uuid, v.name, v.owner_id, u.name, COALESCE(v.image_id, 0), v.cpus, v.mem_mib, v.max_mem_mib, "     \
    "v.disk_mib, v.cpu_shares, v.cpu_cap, v.min_mhz, v.max_mhz, v.want, v.state, COALESCE(v.host_id, 0), v.error, "    \
    "v.address, v.created_ms, v.updated_ms, v.started_ms, v.probe, COALESCE(v.migrate_from, 0), v.migrate_error, "     \
    "v.migrate_total_ms, v.migrate_downtime_ms, v.alloc_mhz, v.utility, v.ha_priority "                                \
    "FROM vms v JOIN users u ON u.id = v.owner_id "
/* host filter: ?2 is NULL for "not placed", and IS matches NULL with NULL while still using vms_host */
#define VM_WHERE_OWNER "WHERE v.owner_id = ?1 "
#define VM_WHERE_HOST "WHERE v.host_id IS NOT DISTINCT FROM ?2 "
#define VM_WHERE_BOTH "WHERE v.owner_id = ?1 AND v.host_id IS NOT DISTINCT FROM ?2 "

enum {
    ST_USER_INSERT,
    ST_USER_GET,
    ST_USER_BY_NAME,
    ST_USER_BY_TOKEN,
    ST_USER_LIST,
    ST_USER_UPDATE,
    ST_USER_DELETE,
    ST_IMAGE_INSERT,
    ST_IMAGE_GET,
    ST_IMAGE_BY_NAME,
    ST_IMAGE_LIST,
    ST_IMAGE_DELETE,
    ST_HOST_UPSERT,
    ST_HOST_GET,
    ST_HOST_BY_NAME,
    ST_HOST_LIST,
    ST_HOST_UPDATE,
    ST_HOST_SEEN,
    ST_VM_INSERT,
    ST_VM_GET,
    ST_VM_BY_NAME,
    ST_VM_BY_UUID,
    ST_VM_LIST_ALL,
    ST_VM_LIST_OWNER,
    ST_VM_LIST_HOST,
    ST_VM_LIST_BOTH,
    ST_VM_PAGE_ALL,
    ST_VM_PAGE_OWNER,
    ST_VM_COUNT_ALL,
    ST_VM_COUNT_OWNER,
    ST_VM_COUNT_HOST,
    ST_VM_COUNT_BOTH,
    ST_VM_UPDATE,
    ST_VM_DELETE,
    ST_USAGE_ALL,
    ST_USAGE_OWNER,
    ST_HOST_USE,
    ST_HOST_USE_ONE,
    ST_HOST_USE_SET,
    ST_HOST_USE_DELETE,
    ST_OWNER_USE_ADD,
    ST_VM_SHARE,
    ST_SETTING_GET,
    ST_SETTING_SET,
    ST_CONSOLE_SET,
    ST_DECISION_ADD,
    ST_DECISION_PRUNE,
    ST_DECISION_LIST,
    ST_CONSOLE_GET,
    ST_CONSOLE_DELETE,
    ST_VM_EXISTS_UUID,
    ST_PASSWORD_GET,
    ST_PASSWORD_SET,
    ST_SESSION_INSERT,
    ST_SESSION_GET,
    ST_SESSION_DELETE,
    ST_SESSION_DELETE_USER,
    ST_SESSION_EXPIRE,
    ST_HOST_KEY_BY_HASH,
    ST__COUNT
};

static const char *const sql[ST__COUNT] = {
    [ST_USER_INSERT] = "INSERT INTO users (name, is_admin, token_hash, max_vms, max_cpus, max_mem_mib, "
                       "max_disk_mib, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
    [ST_USER_GET] = "SELECT " USER_COLS " FROM users WHERE id = ?1",
    [ST_USER_BY_NAME] = "SELECT " USER_COLS " FROM users WHERE name = ?1",
    [ST_USER_BY_TOKEN] = "SELECT " USER_COLS " FROM users WHERE token_hash = ?1 AND token_hash <> ''",
    [ST_USER_LIST] = "SELECT " USER_COLS " FROM users ORDER BY id",
    [ST_USER_UPDATE] = "UPDATE users SET name = ?2, is_admin = ?3, token_hash = ?4, max_vms = ?5, max_cpus = ?6, "
                       "max_mem_mib = ?7, max_disk_mib = ?8, created_ms = ?9 WHERE id = ?1",
    [ST_USER_DELETE] = "DELETE FROM users WHERE id = ?1",
    [ST_IMAGE_INSERT] = "INSERT INTO images (name, owner_id, is_public, path, kernel, initrd, cmdline, size_mib, "
                        "created_ms) VALUES (?1, NULLIF(?2, 0), ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
    [ST_IMAGE_GET] = "SELECT " IMAGE_COLS " FROM images WHERE id = ?1",
    [ST_IMAGE_BY_NAME] = "SELECT " IMAGE_COLS " FROM images WHERE name = ?1",
    [ST_IMAGE_LIST] = "SELECT " IMAGE_COLS " FROM images ORDER BY id",
    [ST_IMAGE_DELETE] = "DELETE FROM images WHERE id = ?1",
    [ST_HOST_UPSERT] =
        "INSERT INTO hosts (name, cores, mhz, mem_mib, disk_total_mib, disk_free_mib, hypervisor, accel, "
        "libvirt_uri, migrate_addr, state, last_seen_ms, registered_ms, mgmt_addr, power_driver, power_address, "
        "power_user, power_secret, power_command, power_changed_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20) "
        "ON CONFLICT (name) DO UPDATE SET cores = excluded.cores, mhz = excluded.mhz, mem_mib = excluded.mem_mib, "
        "disk_total_mib = excluded.disk_total_mib, disk_free_mib = excluded.disk_free_mib, "
        "hypervisor = excluded.hypervisor, accel = excluded.accel, libvirt_uri = excluded.libvirt_uri, "
        "migrate_addr = excluded.migrate_addr, last_seen_ms = excluded.last_seen_ms, mgmt_addr = excluded.mgmt_addr, "
        "state = CASE WHEN hosts.state IN ('disabled', 'draining', 'drained', 'powering-off') THEN hosts.state "
        "ELSE excluded.state "
        "END "
        "RETURNING id, registered_ms, state",
    [ST_HOST_GET] = "SELECT " HOST_COLS " FROM hosts WHERE id = ?1",
    [ST_HOST_BY_NAME] = "SELECT " HOST_COLS " FROM hosts WHERE name = ?1",
    [ST_HOST_LIST] = "SELECT " HOST_COLS " FROM hosts ORDER BY id",
    [ST_HOST_UPDATE] = "UPDATE hosts SET name = ?2, cores = ?3, mhz = ?4, mem_mib = ?5, disk_total_mib = ?6, "
                       "disk_free_mib = ?7, hypervisor = ?8, accel = ?9, libvirt_uri = ?10, migrate_addr = ?11, "
                       "state = ?12, last_seen_ms = ?13, registered_ms = ?14, mgmt_addr = ?15, power_driver = ?16, "
                       "power_address = ?17, power_user = ?18, power_secret = ?19, power_command = ?20, "
                       "power_changed_ms = ?21 WHERE id = ?1",
    [ST_HOST_SEEN] = "UPDATE hosts SET last_seen_ms = ?2, disk_free_mib = CASE WHEN CAST(?3 AS BIGINT) >= 0 THEN "
                     "CAST(?3 AS BIGINT) ELSE disk_free_mib END WHERE id = ?1 AND last_seen_ms < ?2",
    [ST_VM_INSERT] =
        "INSERT INTO vms (uuid, name, owner_id, image_id, cpus, mem_mib, max_mem_mib, disk_mib, "
        "cpu_shares, cpu_cap, min_mhz, max_mhz, want, state, host_id, error, address, created_ms, "
        "updated_ms, started_ms, probe, migrate_from, migrate_error, migrate_total_ms, migrate_downtime_ms, "
        "alloc_mhz, utility, ha_priority) VALUES (?1, ?2, ?3, NULLIF(?4, 0), ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
        "?13, ?14, NULLIF(?15, 0), ?16, ?17, ?18, ?18, ?19, ?20, NULLIF(?21, 0), ?22, ?23, ?24, ?25, ?26, ?27) "
        "RETURNING id",
    [ST_VM_GET] = VM_SELECT "WHERE v.id = ?1",
    [ST_VM_BY_NAME] = VM_SELECT "WHERE v.owner_id = ?1 AND v.name = ?2",
    [ST_VM_BY_UUID] = VM_SELECT "WHERE v.uuid = ?1",
    [ST_VM_LIST_ALL] = VM_SELECT "ORDER BY v.id",
    [ST_VM_LIST_OWNER] = VM_SELECT VM_WHERE_OWNER "ORDER BY v.id",
    [ST_VM_LIST_HOST] = VM_SELECT VM_WHERE_HOST "ORDER BY v.id",
    [ST_VM_LIST_BOTH] = VM_SELECT VM_WHERE_BOTH "ORDER BY v.id",
    [ST_VM_PAGE_ALL] = VM_SELECT "WHERE v.id > ?1 ORDER BY v.id LIMIT ?2",
    [ST_VM_PAGE_OWNER] = VM_SELECT "WHERE v.owner_id = ?3 AND v.id > ?1 ORDER BY v.id LIMIT ?2",
    [ST_VM_COUNT_ALL] = "SELECT count(*) FROM vms v",
    [ST_VM_COUNT_OWNER] = "SELECT count(*) FROM vms v " VM_WHERE_OWNER,
    [ST_VM_COUNT_HOST] = "SELECT count(*) FROM vms v " VM_WHERE_HOST,
    [ST_VM_COUNT_BOTH] = "SELECT count(*) FROM vms v " VM_WHERE_BOTH,
    [ST_VM_UPDATE] = "UPDATE vms SET name = ?2, image_id = NULLIF(?3, 0), cpus = ?4, mem_mib = ?5, max_mem_mib = ?6, "
                     "disk_mib = ?7, cpu_shares = ?8, cpu_cap = ?9, min_mhz = ?10, max_mhz = ?11, want = ?12, "
                     "state = ?13, host_id = NULLIF(?14, 0), error = ?15, address = ?16, created_ms = ?17, "
                     "updated_ms = ?18, started_ms = ?19, probe = ?20, migrate_from = NULLIF(?21, 0), "
                     "migrate_error = ?22, migrate_total_ms = ?23, migrate_downtime_ms = ?24, alloc_mhz = ?25, "
                     "utility = ?26, ha_priority = ?27 WHERE id = ?1",
    [ST_VM_DELETE] = "DELETE FROM vms WHERE id = ?1",
    [ST_USAGE_ALL] = "SELECT COALESCE(sum(vms), 0), COALESCE(sum(cpus), 0), COALESCE(sum(mem_mib), 0), "
                     "COALESCE(sum(disk_mib), 0) FROM owner_use",
    [ST_USAGE_OWNER] = "SELECT COALESCE(sum(vms), 0), COALESCE(sum(cpus), 0), COALESCE(sum(mem_mib), 0), "
                       "COALESCE(sum(disk_mib), 0) FROM owner_use WHERE owner_id = ?1",
    [ST_HOST_USE] = "SELECT u.host_id, u.vms, u.last_vm_id, u.cpus, u.mem_mib, u.disk_mib, u.min_mhz, u.max_mhz, "
                    "CASE WHEN u.mhz = h.mhz THEN 1 ELSE 0 END FROM host_use u JOIN hosts h ON h.id = u.host_id",
    [ST_HOST_USE_ONE] = HOST_USE_OF_HOSTS "WHERE h.id = ?1 GROUP BY h.id, h.mhz",
    [ST_HOST_USE_SET] = "INSERT INTO host_use (host_id, mhz, vms, last_vm_id, cpus, mem_mib, disk_mib, min_mhz, "
                        "max_mhz) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (host_id) DO UPDATE SET "
                        "mhz = excluded.mhz, vms = excluded.vms, last_vm_id = excluded.last_vm_id, "
                        "cpus = excluded.cpus, mem_mib = excluded.mem_mib, disk_mib = excluded.disk_mib, "
                        "min_mhz = excluded.min_mhz, max_mhz = excluded.max_mhz",
    [ST_HOST_USE_DELETE] = "DELETE FROM host_use WHERE host_id = ?1",
    [ST_OWNER_USE_ADD] = "INSERT INTO owner_use (owner_id, vms, cpus, mem_mib, disk_mib) VALUES (?1, ?2, ?3, ?4, ?5) "
                         "ON CONFLICT (owner_id) DO UPDATE SET vms = owner_use.vms + excluded.vms, "
                         "cpus = owner_use.cpus + excluded.cpus, mem_mib = owner_use.mem_mib + excluded.mem_mib, "
                         "disk_mib = owner_use.disk_mib + excluded.disk_mib",
    [ST_VM_SHARE] = "SELECT owner_id, COALESCE(host_id, 0), COALESCE(migrate_from, 0), cpus, mem_mib, max_mem_mib, "
                    "disk_mib, min_mhz, max_mhz, CASE WHEN " OWNER_USE_COUNTED " THEN 1 ELSE 0 END "
                    "FROM vms WHERE id = ?1",
    [ST_SETTING_GET] = "SELECT value FROM settings WHERE key = ?1",
    [ST_SETTING_SET] = "INSERT INTO settings (key, value, updated_ms) VALUES (?1, ?2, ?3) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
    [ST_CONSOLE_SET] = "INSERT INTO consoles (vm_uuid, data, updated_ms) VALUES (?1, ?2, ?3) "
                       "ON CONFLICT (vm_uuid) DO UPDATE SET data = excluded.data, updated_ms = excluded.updated_ms",
    [ST_CONSOLE_GET] = "SELECT data FROM consoles WHERE vm_uuid = ?1",
    [ST_DECISION_ADD] = "INSERT INTO decisions (at_ms, kind, vm_uuid, vm, vm_id, from_id, to_id, from_host, to_host, "
                        "reason, outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id",
    [ST_DECISION_PRUNE] = "DELETE FROM decisions WHERE id <= ?1",
    [ST_DECISION_LIST] = "SELECT id, at_ms, kind, vm_uuid, vm, vm_id, from_id, to_id, from_host, to_host, reason, "
                         "outcome FROM decisions ORDER BY id DESC LIMIT ?1",
    [ST_CONSOLE_DELETE] = "DELETE FROM consoles WHERE vm_uuid = ?1",
    [ST_VM_EXISTS_UUID] = "SELECT 1 FROM vms WHERE uuid = ?1",
    [ST_PASSWORD_GET] = "SELECT password_hash FROM users WHERE id = ?1",
    [ST_PASSWORD_SET] = "UPDATE users SET password_hash = ?2 WHERE id = ?1",
    [ST_SESSION_INSERT] = "INSERT INTO sessions (token_hash, user_id, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4)",
    [ST_SESSION_GET] = "SELECT u.id, u.name, u.is_admin, u.token_hash, u.max_vms, u.max_cpus, u.max_mem_mib, "
                       "u.max_disk_mib, u.created_ms, s.expires_ms FROM sessions s JOIN users u ON u.id = s.user_id "
                       "WHERE s.token_hash = ?1 AND s.expires_ms > ?2",
    [ST_SESSION_DELETE] = "DELETE FROM sessions WHERE token_hash = ?1",
    [ST_SESSION_DELETE_USER] = "DELETE FROM sessions WHERE user_id = ?1",
    [ST_SESSION_EXPIRE] = "DELETE FROM sessions WHERE expires_ms <= ?1",
    [ST_HOST_KEY_BY_HASH] = "SELECT " HOST_KEY_COLS " FROM host_keys WHERE (join_hash = ?1 OR cred_hash = ?1) "
                            "AND ?1 <> ''",
};

#define SQ_JOB_STMTS 64 /* more than the statements of every function that uses job_prepare */

typedef struct sq_store {
    yun_store base; /* first: a yun_store * is a sq_store * */
    sql_db *db;
    char *path; /* as sql_target says it, for messages */
    bool in_tx;
    sql_stmt *st[ST__COUNT]; /* prepared on first use, finalized at close */
    struct {
        const char *text; /* a statement of job_prepare's, by the address of its text */
        sql_stmt *st;
    } job_st[SQ_JOB_STMTS];
} sq_store;

#define SQ(s) ((sq_store *)(s))

/* Resets a statement when it leaves scope: a statement left mid-step would hold its read snapshot open,
 * which keeps WAL checkpoints from finishing and hands the next writer a stale snapshot. */
static void reset_stmtp(sql_stmt **p)
{
    sql_reset(*p);
}
#define AUTORESET __attribute__((cleanup(reset_stmtp)))

/* Reports the database's last error on this handle, after "what" (a printf format); a lock still held by another
 * writer after the busy timeout is UNAVAILABLE (try again), anything else STORE. */
static int db_fail(sq_store *q, yun_err *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int db_fail(sq_store *q, yun_err *err, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sql_fail(q->db, err, what);
}

/* The end of a write to the one row of noun with this id, after its own constraint cases: a failed step is
 * the store's error ("updating host h1", as fmt says), no row changed is NOT_FOUND ("host 7 not found"). */
static int row_written(sq_store *q, int rc, const char *noun, int64_t id, yun_err *err, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int row_written(sq_store *q, int rc, const char *noun, int64_t id, yun_err *err, const char *fmt, ...)
{
    if (rc != SQL_DONE) {
        char what[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        return db_fail(q, err, "%s", what);
    }
    if (sql_changes(q->db) == 0)
        return yun_err_set(err, YUN_E_NOT_FOUND, "%s %lld not found", noun, (long long)id);
    return 0;
}

static sql_stmt *stmt(sq_store *q, int id, yun_err *err)
{
    if (!q->st[id])
        q->st[id] = sql_prepare(q->db, sql[id], err);
    return q->st[id];
}

/* ---- binding and reading ---- */
/* Fixed-size model strings are bound up to their size, so a missing NUL cannot read past the field. */
#define BIND_FIELD(st, i, field) sql_bind_text(st, i, field, (int)strnlen(field, sizeof(field)))
#define COL_FIELD(st, i, field) col_text(st, i, field, sizeof(field))

static void col_text(sql_stmt *st, int i, char *dst, size_t n)
{
    const char *t = sql_column_text(st, i);
    size_t len = t ? (size_t)sql_column_bytes(st, i) : 0;
    if (len >= n)
        len = n - 1;
    if (len)
        memcpy(dst, t, len);
    dst[len] = '\0';
}

static void bind_user(sql_stmt *st, int first, const yun_user *u)
{
    BIND_FIELD(st, first, u->name);
    sql_bind_int(st, first + 1, u->is_admin);
    BIND_FIELD(st, first + 2, u->token_hash);
    sql_bind_int64(st, first + 3, u->quota.max_vms);
    sql_bind_int64(st, first + 4, u->quota.max_cpus);
    sql_bind_int64(st, first + 5, u->quota.max_mem_mib);
    sql_bind_int64(st, first + 6, u->quota.max_disk_mib);
    sql_bind_int64(st, first + 7, u->created_ms);
}

static int read_user(sql_stmt *st, yun_user *u, yun_err *err)
{
    memset(u, 0, sizeof *u);
    u->id = sql_column_int64(st, 0);
    COL_FIELD(st, 1, u->name);
    u->is_admin = sql_column_int(st, 2) != 0;
    COL_FIELD(st, 3, u->token_hash);
    u->quota.max_vms = sql_column_int64(st, 4);
    u->quota.max_cpus = sql_column_int64(st, 5);
    u->quota.max_mem_mib = sql_column_int64(st, 6);
    u->quota.max_disk_mib = sql_column_int64(st, 7);
    u->created_ms = sql_column_int64(st, 8);
    return 0;
}

static void bind_image(sql_stmt *st, const yun_image *img)
{
    BIND_FIELD(st, 1, img->name);
    sql_bind_int64(st, 2, img->owner_id);
    sql_bind_int(st, 3, img->is_public);
    BIND_FIELD(st, 4, img->path);
    BIND_FIELD(st, 5, img->kernel);
    BIND_FIELD(st, 6, img->initrd);
    BIND_FIELD(st, 7, img->cmdline);
    sql_bind_int64(st, 8, (int64_t)img->size_mib);
    sql_bind_int64(st, 9, img->created_ms);
}

static int read_image(sql_stmt *st, yun_image *img, yun_err *err)
{
    memset(img, 0, sizeof *img);
    img->id = sql_column_int64(st, 0);
    COL_FIELD(st, 1, img->name);
    img->owner_id = sql_column_int64(st, 2);
    img->is_public = sql_column_int(st, 3) != 0;
    COL_FIELD(st, 4, img->path);
    COL_FIELD(st, 5, img->kernel);
    COL_FIELD(st, 6, img->initrd);
    COL_FIELD(st, 7, img->cmdline);
    img->size_mib = (uint64_t)sql_column_int64(st, 8);
    img->created_ms = sql_column_int64(st, 9);
    return 0;
}

static void bind_host(sql_stmt *st, int first, const yun_host *h)
{
    BIND_FIELD(st, first, h->name);
    sql_bind_int(st, first + 1, h->cores);
    sql_bind_int(st, first + 2, h->mhz);
    sql_bind_int64(st, first + 3, (int64_t)h->mem_mib);
    sql_bind_int64(st, first + 4, (int64_t)h->disk_total_mib);
    sql_bind_int64(st, first + 5, (int64_t)h->disk_free_mib);
    BIND_FIELD(st, first + 6, h->hypervisor);
    BIND_FIELD(st, first + 7, h->accel);
    BIND_FIELD(st, first + 8, h->libvirt_uri);
    BIND_FIELD(st, first + 9, h->migrate_addr);
    sql_bind_text(st, first + 10, model_host_state_name(h->state), -1);
    sql_bind_int64(st, first + 11, h->last_seen_ms);
    sql_bind_int64(st, first + 12, h->registered_ms);
    BIND_FIELD(st, first + 13, h->mgmt_addr);
    BIND_FIELD(st, first + 14, h->power_driver);
    BIND_FIELD(st, first + 15, h->power_address);
    BIND_FIELD(st, first + 16, h->power_user);
    BIND_FIELD(st, first + 17, h->power_secret);
    BIND_FIELD(st, first + 18, h->power_command);
    sql_bind_int64(st, first + 19, h->power_changed_ms);
}

static int read_host(sql_stmt *st, yun_host *h, yun_err *err)
{
    memset(h, 0, sizeof *h);
    h->id = sql_column_int64(st, 0);
    COL_FIELD(st, 1, h->name);
    h->cores = sql_column_int(st, 2);
    h->mhz = sql_column_int(st, 3);
    h->mem_mib = (uint64_t)sql_column_int64(st, 4);
    h->disk_total_mib = (uint64_t)sql_column_int64(st, 5);
    h->disk_free_mib = (uint64_t)sql_column_int64(st, 6);
    COL_FIELD(st, 7, h->hypervisor);
    COL_FIELD(st, 8, h->accel);
    COL_FIELD(st, 9, h->libvirt_uri);
    COL_FIELD(st, 10, h->migrate_addr);
    const char *state = sql_column_text(st, 11);
    int hs = model_host_state_parse(state);
    if (hs < 0)
        return yun_err_set(err, YUN_E_STORE, "host %s has an unknown state \"%s\" in the store", h->name,
                           state ? state : "");
    h->state = (yun_host_state)hs;
    h->last_seen_ms = sql_column_int64(st, 12);
    h->registered_ms = sql_column_int64(st, 13);
    COL_FIELD(st, 14, h->mgmt_addr);
    COL_FIELD(st, 15, h->power_driver);
    COL_FIELD(st, 16, h->power_address);
    COL_FIELD(st, 17, h->power_user);
    COL_FIELD(st, 18, h->power_secret);
    COL_FIELD(st, 19, h->power_command);
    h->power_changed_ms = sql_column_int64(st, 20);
    return 0;
}

static int read_vm(sql_stmt *st, yun_vm *vm, yun_err *err)
{
    memset(vm, 0, sizeof *vm);
    vm->id = sql_column_int64(st, 0);
    COL_FIELD(st, 1, vm->uuid);
    COL_FIELD(st, 2, vm->name);
    vm->owner_id = sql_column_int64(st, 3);
    COL_FIELD(st, 4, vm->owner_name);
    vm->image_id = sql_column_int64(st, 5);
    vm->cpus = sql_column_int(st, 6);
    vm->mem_mib = (uint64_t)sql_column_int64(st, 7);
    vm->max_mem_mib = (uint64_t)sql_column_int64(st, 8);
    vm->disk_mib = (uint64_t)sql_column_int64(st, 9);
    vm->cpu_shares = sql_column_int(st, 10);
    vm->cpu_cap = sql_column_int(st, 11);
    vm->min_mhz = sql_column_int(st, 12);
    vm->max_mhz = sql_column_int(st, 13);
    const char *want = sql_column_text(st, 14);
    int w = model_vm_want_parse(want);
    const char *state = sql_column_text(st, 15);
    int vs = model_vm_state_parse(state);
    if (w < 0 || vs < 0)
        return yun_err_set(err, YUN_E_STORE, "VM %s has an unknown want \"%s\" or state \"%s\" in the store", vm->uuid,
                           want ? want : "", state ? state : "");
    vm->want = (yun_vm_want)w;
    vm->state = (yun_vm_state)vs;
    vm->host_id = sql_column_int64(st, 16);
    COL_FIELD(st, 17, vm->error);
    COL_FIELD(st, 18, vm->address);
    vm->created_ms = sql_column_int64(st, 19);
    vm->updated_ms = sql_column_int64(st, 20);
    vm->started_ms = sql_column_int64(st, 21);
    COL_FIELD(st, 22, vm->probe);
    vm->migrate_from = sql_column_int64(st, 23);
    COL_FIELD(st, 24, vm->migrate_error);
    vm->migrate_total_ms = sql_column_int64(st, 25);
    vm->migrate_downtime_ms = sql_column_int64(st, 26);
    vm->alloc_mhz = sql_column_int64(st, 27);
    vm->utility = sql_column_int(st, 28);
    vm->ha_priority = sql_column_int(st, 29);
    return 0;
}

/* ---- generic shapes: one row by key, all rows, a write that must touch a row ---- */
typedef int (*read_fn)(sql_stmt *st, void *out, yun_err *err);

/* Runs a prepared, bound SELECT expecting at most one row; NOT_FOUND names what (e.g. "user \"bob\""). */
static int get_one(sq_store *q, sql_stmt *st, read_fn rd, void *out, const char *what, yun_err *err)
{
    int rc = sql_step(st);
    if (rc == SQL_ROW)
        return rd(st, out, err);
    if (rc == SQL_DONE)
        return yun_err_set(err, YUN_E_NOT_FOUND, "%s not found", what);
    return db_fail(q, err, "reading %s", what);
}

static int get_all(sq_store *q, sql_stmt *st, read_fn rd, size_t elem, void **out, size_t *n, const char *what,
                   yun_err *err)
{
    AUTOFREE char *arr = NULL;
    size_t cap = 0, len = 0;
    int rc;
    while ((rc = sql_step(st)) == SQL_ROW) {
        xgrow((void **)&arr, &cap, len + 1, elem);
        if (rd(st, arr + len * elem, err) < 0)
            return -1;
        len++;
    }
    if (rc != SQL_DONE)
        return db_fail(q, err, "listing %s", what);
    *out = STEAL(arr);
    *n = len;
    return 0;
}

#define GET_ONE(q, st, rd, out, what, err) get_one(q, st, (read_fn)(rd), out, what, err)

/* The row whose id is ?1 of statement which, read by rd into out; "<kind> <id> not found" when there is none. */
static int get_by_id(sq_store *q, int which, int64_t id, read_fn rd, void *out, const char *kind, yun_err *err)
{
    AUTORESET sql_stmt *st = stmt(q, which, err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, id);
    char what[64];
    snprintf(what, sizeof what, "%s %lld", kind, (long long)id);
    return get_one(q, st, rd, out, what, err);
}
#define GET_BY_ID(q, which, id, rd, out, kind, err) get_by_id(q, which, id, (read_fn)(rd), out, kind, err)

/* The same by name (?1): "<kind> "<name>" not found" when there is none. */
static int get_by_name(sq_store *q, int which, const char *name, read_fn rd, void *out, const char *kind, yun_err *err)
{
    AUTORESET sql_stmt *st = stmt(q, which, err);
    if (!st)
        return -1;
    sql_bind_text(st, 1, name, -1);
    char what[300];
    snprintf(what, sizeof what, "%s \"%.255s\"", kind, name);
    return get_one(q, st, rd, out, what, err);
}
#define GET_BY_NAME(q, which, name, rd, out, kind, err) get_by_name(q, which, name, (read_fn)(rd), out, kind, err)
#define GET_ALL(q, st, rd, out, n, what, err)                                                                          \
    get_all(q, st, (read_fn)(rd), sizeof **(out), (void **)(out), n, what, err)
/* Every row of a statement without parameters. */
static int list_all(sq_store *q, int which, read_fn rd, size_t elem, void **out, size_t *n, const char *what,
                    yun_err *err)
{
    AUTORESET sql_stmt *st = stmt(q, which, err);
    if (!st)
        return -1;
    return get_all(q, st, rd, elem, out, n, what, err);
}
#define LIST_ALL(q, which, rd, out, n, what, err)                                                                      \
    list_all(q, which, (read_fn)(rd), sizeof **(out), (void **)(out), n, what, err)

/* A VM that refers to a missing row: tells which, so the caller sees the ids, not "constraint failed". */
static int vm_ref_fail(const yun_vm *vm, yun_err *err)
{
    return yun_err_set(err, YUN_E_NOT_FOUND,
                       "VM %s refers to something that does not exist: check owner (user %lld), image %lld and "
                       "host %lld (0 = none)",
                       vm->name, (long long)vm->owner_id, (long long)vm->image_id, (long long)vm->host_id);
}

/* What a write of one kind of row says when a constraint refuses it, in the words users see. */
typedef struct sq_noun {
    const char *noun;   /* "user": "user 7 not found", "updating user alice" */
    const char *exists; /* UNIQUE broken; %s is the name */
    const char *in_use; /* a delete other rows still refer to; %lld is the id (NULL: none can) */
} sq_noun;
static const sq_noun NOUN_USER = {"user", "a user named \"%s\" already exists: pick another name",
                                  "user %lld still owns VMs or images: delete those first"};
static const sq_noun NOUN_IMAGE = {"image", "an image named \"%s\" already exists: pick another name",
                                   "image %lld is still used by VMs: delete those first"};
static const sq_noun NOUN_HOST = {"host", "a host named \"%s\" already exists", NULL};
static const sq_noun NOUN_VM = {"VM", "a VM named \"%s\" already exists for this owner: pick another name", NULL};

/* The end of an INSERT ... RETURNING id of n's row named name (its other constraints handled before). */
static int row_created(sq_store *q, sql_stmt *st, int rc, const sq_noun *n, const char *name, int64_t *id, yun_err *err)
{
    if (rc == SQL_ROW) {
        *id = sql_column_int64(st, 0);
        return 0;
    }
    if (rc == SQL_CONSTRAINT_UNIQUE)
        return yun_err_set(err, YUN_E_CONFLICT, n->exists, name);
    return db_fail(q, err, "creating %s %s", n->noun, name);
}

/* The end of an UPDATE of n's row id named name (its other constraints handled before). */
static int row_updated(sq_store *q, int rc, const sq_noun *n, int64_t id, const char *name, yun_err *err)
{
    if (rc == SQL_CONSTRAINT_UNIQUE)
        return yun_err_set(err, YUN_E_CONFLICT, n->exists, name);
    return row_written(q, rc, n->noun, id, err, "updating %s %s", n->noun, name);
}

/* Updates n's row id by statement which: ?1 = id, then bind(st, 2, row). */
typedef void (*bind_fn)(sql_stmt *st, int first, const void *row);
static int row_update(sq_store *q, int which, const sq_noun *n, int64_t id, const char *name, bind_fn bind,
                      const void *row, yun_err *err)
{
    AUTORESET sql_stmt *st = stmt(q, which, err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, id);
    bind(st, 2, row);
    return row_updated(q, sql_step(st), n, id, name, err);
}
#define ROW_UPDATE(q, which, n, id, name, bind, row, err) row_update(q, which, n, id, name, (bind_fn)(bind), row, err)

/* Deletes n's row id by statement which (?1 = id). */
static int row_delete(sq_store *q, int which, const sq_noun *n, int64_t id, yun_err *err)
{
    AUTORESET sql_stmt *st = stmt(q, which, err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, id);
    int rc = sql_step(st);
    if (rc == SQL_CONSTRAINT_FOREIGNKEY && n->in_use)
        return yun_err_set(err, YUN_E_CONFLICT, n->in_use, (long long)id);
    return row_written(q, rc, n->noun, id, err, "deleting %s %lld", n->noun, (long long)id);
}

/* ---- transactions ---- */
static int exec_sql(sq_store *q, const char *text, yun_err *err)
{
    if (sql_exec(q->db, text) != SQL_OK)
        return db_fail(q, err, "running %s", text);
    return 0;
}

static int sq_begin(yun_store *s, yun_err *err)
{
    sq_store *q = SQ(s);
    if (q->in_tx)
        return yun_err_set(err, YUN_E_INTERNAL, "store_begin inside a transaction: nesting is not supported");
    /* the write lock now, under the busy timeout, instead of failing at the first write */
    if (sql_begin_write(q->db) != SQL_OK)
        return db_fail(q, err, "starting a transaction");
    q->in_tx = true;
    return 0;
}

static int sq_commit(yun_store *s, yun_err *err)
{
    sq_store *q = SQ(s);
    if (!q->in_tx)
        return yun_err_set(err, YUN_E_INTERNAL, "store_commit without store_begin");
    if (exec_sql(q, "COMMIT", err) < 0) {
        if (sql_in_tx(q->db))
            sql_exec(q->db, "ROLLBACK"); /* leave no half-made transaction behind */
        q->in_tx = false;
        return -1;
    }
    q->in_tx = false;
    return 0;
}

static void sq_rollback(yun_store *s)
{
    sq_store *q = SQ(s);
    if (sql_in_tx(q->db))
        sql_exec(q->db, "ROLLBACK");
    q->in_tx = false;
}

/* ---- users ---- */
static int sq_user_create(yun_store *s, yun_user *u, yun_err *err)
{
    sq_store *q = SQ(s);
    if (!u->created_ms)
        u->created_ms = yun_now_ms();
    AUTORESET sql_stmt *st = stmt(q, ST_USER_INSERT, err);
    if (!st)
        return -1;
    bind_user(st, 1, u);
    return row_created(q, st, sql_step(st), &NOUN_USER, u->name, &u->id, err);
}

static int sq_user_get(yun_store *s, int64_t id, yun_user *out, yun_err *err)
{
    return GET_BY_ID(SQ(s), ST_USER_GET, id, read_user, out, "user", err);
}

static int sq_user_get_by_name(yun_store *s, const char *name, yun_user *out, yun_err *err)
{
    return GET_BY_NAME(SQ(s), ST_USER_BY_NAME, name, read_user, out, "user", err);
}

static int sq_user_get_by_token_hash(yun_store *s, const char *token_hash, yun_user *out, yun_err *err)
{
    AUTORESET sql_stmt *st = stmt(SQ(s), ST_USER_BY_TOKEN, err);
    if (!st)
        return -1;
    sql_bind_text(st, 1, token_hash, -1);
    return GET_ONE(SQ(s), st, read_user, out, "user with this token", err); /* never echo a secret */
}

static int sq_user_list(yun_store *s, yun_user **out, size_t *n, yun_err *err)
{
    return LIST_ALL(SQ(s), ST_USER_LIST, read_user, out, n, "users", err);
}

static int sq_user_update(yun_store *s, const yun_user *u, yun_err *err)
{
    return ROW_UPDATE(SQ(s), ST_USER_UPDATE, &NOUN_USER, u->id, u->name, bind_user, u, err);
}

static int sq_user_delete(yun_store *s, int64_t id, yun_err *err)
{
    return row_delete(SQ(s), ST_USER_DELETE, &NOUN_USER, id, err);
}

/* ---- images ---- */
static int sq_image_create(yun_store *s, yun_image *img, yun_err *err)
{
    sq_store *q = SQ(s);
    if (!img->created_ms)
        img->created_ms = yun_now_ms();
    AUTORESET sql_stmt *st = stmt(q, ST_IMAGE_INSERT, err);
    if (!st)
        return -1;
    bind_image(st, img);
    int rc = sql_step(st);
    if (rc == SQL_CONSTRAINT_FOREIGNKEY)
        return yun_err_set(err, YUN_E_NOT_FOUND, "image %s: its owner, user %lld, does not exist", img->name,
                           (long long)img->owner_id);
    return row_created(q, st, rc, &NOUN_IMAGE, img->name, &img->id, err);
}

static int sq_image_get(yun_store *s, int64_t id, yun_image *out, yun_err *err)
{
    return GET_BY_ID(SQ(s), ST_IMAGE_GET, id, read_image, out, "image", err);
}

static int sq_image_get_by_name(yun_store *s, const char *name, yun_image *out, yun_err *err)
{
    return GET_BY_NAME(SQ(s), ST_IMAGE_BY_NAME, name, read_image, out, "image", err);
}

static int sq_image_list(yun_store *s, yun_image **out, size_t *n, yun_err *err)
{
    return LIST_ALL(SQ(s), ST_IMAGE_LIST, read_image, out, n, "images", err);
}

static int sq_image_delete(yun_store *s, int64_t id, yun_err *err)
{
    return row_delete(SQ(s), ST_IMAGE_DELETE, &NOUN_IMAGE, id, err);
}

/* ---- hosts ---- */
static int sq_host_upsert(yun_store *s, yun_host *h, yun_err *err)
{
    sq_store *q = SQ(s);
    if (!h->registered_ms)
        h->registered_ms = yun_now_ms();
    AUTORESET sql_stmt *st = stmt(q, ST_HOST_UPSERT, err);
    if (!st)
        return -1;
    bind_host(st, 1, h);
    if (sql_step(st) != SQL_ROW)
        return db_fail(q, err, "registering host %s", h->name);
    h->id = sql_column_int64(st, 0);
    h->registered_ms = sql_column_int64(st, 1);
    int hs = model_host_state_parse(sql_column_text(st, 2));
    h->state = hs < 0 ? YUN_HOST_SUSPECT : (yun_host_state)hs;
    return 0;
}

static int sq_host_get(yun_store *s, int64_t id, yun_host *out, yun_err *err)
{
    return GET_BY_ID(SQ(s), ST_HOST_GET, id, read_host, out, "host", err);
}

static int sq_host_get_by_name(yun_store *s, const char *name, yun_host *out, yun_err *err)
{
    return GET_BY_NAME(SQ(s), ST_HOST_BY_NAME, name, read_host, out, "host", err);
}

static int sq_host_list(yun_store *s, yun_host **out, size_t *n, yun_err *err)
{
    return LIST_ALL(SQ(s), ST_HOST_LIST, read_host, out, n, "hosts", err);
}

static int sq_host_update(yun_store *s, const yun_host *h, yun_err *err)
{
    return ROW_UPDATE(SQ(s), ST_HOST_UPDATE, &NOUN_HOST, h->id, h->name, bind_host, h, err);
}

static int sq_hosts_seen(yun_store *s, const yun_host_seen *seen, size_t n, yun_err *err)
{
    sq_store *q = SQ(s);
    for (size_t i = 0; i < n; i++) {
        AUTORESET sql_stmt *st = stmt(q, ST_HOST_SEEN, err);
        if (!st)
            return -1;
        sql_bind_int64(st, 1, seen[i].host_id);
        sql_bind_int64(st, 2, seen[i].at_ms);
        sql_bind_int64(st, 3, seen[i].disk_free_mib);
        if (sql_step(st) != SQL_DONE)
            return db_fail(q, err, "recording when host %lld was last heard from", (long long)seen[i].host_id);
    }
    return 0;
}

/* Binds the VM columns that insert and update both write, image_id to address, as ?first..?first+13:
 * one list, so a column added to both statements cannot be bound in one and forgotten in the other. */
static void bind_vm_spec(sql_stmt *st, int first, const yun_vm *vm)
{
    sql_bind_int64(st, first, vm->image_id);
    sql_bind_int(st, first + 1, vm->cpus);
    sql_bind_int64(st, first + 2, (int64_t)vm->mem_mib);
    sql_bind_int64(st, first + 3, (int64_t)vm->max_mem_mib);
    sql_bind_int64(st, first + 4, (int64_t)vm->disk_mib);
    sql_bind_int(st, first + 5, vm->cpu_shares);
    sql_bind_int(st, first + 6, vm->cpu_cap);
    sql_bind_int(st, first + 7, vm->min_mhz);
    sql_bind_int(st, first + 8, vm->max_mhz);
    sql_bind_text(st, first + 9, model_vm_want_name(vm->want), -1);
    sql_bind_text(st, first + 10, model_vm_state_name(vm->state), -1);
    sql_bind_int64(st, first + 11, vm->host_id);
    BIND_FIELD(st, first + 12, vm->error);
    BIND_FIELD(st, first + 13, vm->address);
}

/* ---- VMs ---- */

/* What one VM row counts toward the kept sums (host_use, owner_use: migration 21). */
typedef struct vm_share {
    int64_t owner_id, host_id, migrate_from;
    int64_t cpus, mem_mib, max_mem_mib, disk_mib, min_mhz, max_mhz;
    bool counted; /* toward its owner's usage: not wanted deleted */
} vm_share;

static vm_share share_of(const yun_vm *vm)
{
    return (vm_share){.owner_id = vm->owner_id,
                      .host_id = vm->host_id,
                      .migrate_from = vm->migrate_from,
                      .cpus = vm->cpus,
                      .mem_mib = (int64_t)vm->mem_mib,
                      .max_mem_mib = (int64_t)vm->max_mem_mib,
                      .disk_mib = (int64_t)vm->disk_mib,
                      .min_mhz = vm->min_mhz,
                      .max_mhz = vm->max_mhz,
                      .counted = vm->want != YUN_WANT_DELETED};
}

/* Statement which with ?1 = id, whose one row is n integers, into *f[0..n-1]: 1, or 0 when it has no row.
 * what: for the failure, as "reading VM %lld". */
static int ints_by_id(sq_store *q, int which, int64_t id, int64_t *const *f, int n, const char *what, yun_err *err)
{
    AUTORESET sql_stmt *st = stmt(q, which, err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, id);
    int rc = sql_step(st);
    if (rc == SQL_DONE)
        return 0;
    if (rc != SQL_ROW)
        return db_fail(q, err, "%s %lld", what, (long long)id);
    for (int i = 0; i < n; i++)
        *f[i] = sql_column_int64(st, i);
    return 1;
}

/* The row as stored: 1, or 0 when there is no VM id (the write then fails NOT_FOUND on its own). */
static int share_read(sq_store *q, int64_t id, vm_share *out, yun_err *err)
{
    int64_t counted = 0;
    int64_t *const f[] = {&out->owner_id,    &out->host_id,  &out->migrate_from, &out->cpus,    &out->mem_mib,
                          &out->max_mem_mib, &out->disk_mib, &out->min_mhz,      &out->max_mhz, &counted};
    int r = ints_by_id(q, ST_VM_SHARE, id, f, 10, "reading VM", err);
    out->counted = counted != 0;
    return r;
}

/* Sums host_id's row afresh from the VMs placed on it or migrating away from it (O(its VMs), through vms_host
 * and vms_migrate_from): into *u, true; false when no VM uses it. */
static int host_use_sum(sq_store *q, int64_t host_id, yun_host_use *u, int64_t *mhz, yun_err *err)
{
    int64_t *const f[] = {&u->host_id, mhz,         &u->vms,     &u->last_vm_id, &u->cpus,
                          &u->mem_mib, &u->disk_mib, &u->min_mhz, &u->max_mhz};
    return ints_by_id(q, ST_HOST_USE_ONE, host_id, f, 9, "summing what VMs reserve on host", err);
}

static int host_use_refresh(sq_store *q, int64_t host_id, yun_err *err)
{
    yun_host_use u = {0};
    int64_t mhz = 0;
    int have = host_use_sum(q, host_id, &u, &mhz, err);
    if (have < 0)
        return -1;
    AUTORESET sql_stmt *st = stmt(q, have ? ST_HOST_USE_SET : ST_HOST_USE_DELETE, err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, host_id);
    if (have) {
        int64_t v[] = {mhz, u.vms, u.last_vm_id, u.cpus, u.mem_mib, u.disk_mib, u.min_mhz, u.max_mhz};
        for (int i = 0; i < 8; i++)
            sql_bind_int64(st, i + 2, v[i]);
    }
    if (sql_step(st) != SQL_DONE)
        return db_fail(q, err, "keeping what VMs reserve on host %lld", (long long)host_id);
    return 0;
}

static int owner_use_add(sq_store *q, const vm_share *sh, int64_t sign, yun_err *err)
{
    AUTORESET sql_stmt *st = stmt(q, ST_OWNER_USE_ADD, err);
    if (!st)
        return -1;
    int64_t v[] = {sh->owner_id, sign, sign * sh->cpus, sign * sh->max_mem_mib, sign * sh->disk_mib};
    for (int i = 0; i < 5; i++)
        sql_bind_int64(st, i + 1, v[i]);
    if (sql_step(st) != SQL_DONE)
        return db_fail(q, err, "keeping what user %lld's VMs hold", (long long)sh->owner_id);
    return 0;
}

/* After a VM row went from old to new (either NULL: created, deleted), in the write's transaction: the kept
 * sums follow. last_vm_id: a create or delete always refreshes its host. */
static int sums_apply(sq_store *q, const vm_share *old, const vm_share *new, yun_err *err)
{
    bool same_owner = old && new && old->owner_id == new->owner_id && old->counted == new->counted &&
                      old->cpus == new->cpus && old->max_mem_mib == new->max_mem_mib &&
                      old->disk_mib == new->disk_mib;
    if (!same_owner && ((old && old->counted && owner_use_add(q, old, -1, err) < 0) ||
                        (new && new->counted && owner_use_add(q, new, 1, err) < 0)))
        return -1;
    bool same_hosts = old && new && old->host_id == new->host_id && old->migrate_from == new->migrate_from &&
                      old->cpus == new->cpus && old->mem_mib == new->mem_mib &&
                      old->max_mem_mib == new->max_mem_mib && old->disk_mib == new->disk_mib &&
                      old->min_mhz == new->min_mhz && old->max_mhz == new->max_mhz;
    if (same_hosts)
        return 0;
    int64_t hosts[4] = {old ? old->host_id : 0, old ? old->migrate_from : 0, new ? new->host_id : 0,
                        new ? new->migrate_from : 0};
    for (int i = 0; i < 4; i++) {
        bool seen = hosts[i] <= 0;
        for (int j = 0; j < i && !seen; j++)
            seen = hosts[j] == hosts[i];
        if (!seen && host_use_refresh(q, hosts[i], err) < 0)
            return -1;
    }
    return 0;
}
static int sq_vm_create(yun_store *s, yun_vm *vm, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = stmt(q, ST_VM_INSERT, err);
    if (!st)
        return -1;
    int64_t now = yun_now_ms();
    BIND_FIELD(st, 1, vm->uuid);
    BIND_FIELD(st, 2, vm->name);
    sql_bind_int64(st, 3, vm->owner_id);
    bind_vm_spec(st, 4, vm);
    sql_bind_int64(st, 18, now);
    sql_bind_int64(st, 19, vm->started_ms);
    BIND_FIELD(st, 20, vm->probe);
    sql_bind_int64(st, 21, vm->migrate_from);
    BIND_FIELD(st, 22, vm->migrate_error);
    sql_bind_int64(st, 23, vm->migrate_total_ms);
    sql_bind_int64(st, 24, vm->migrate_downtime_ms);
    sql_bind_int64(st, 25, vm->alloc_mhz);
    sql_bind_int(st, 26, vm->utility);
    sql_bind_int(st, 27, vm->ha_priority);
    int rc = sql_step(st);
    if (rc == SQL_CONSTRAINT_UNIQUE &&
        strstr(sql_errmsg(q->db), "uuid") /* SQLite: vms.uuid; PostgreSQL: vms_uuid_key */)
        return yun_err_set(err, YUN_E_CONFLICT, "a VM with UUID %s already exists", vm->uuid);
    if (rc == SQL_CONSTRAINT_FOREIGNKEY)
        return vm_ref_fail(vm, err);
    if (row_created(q, st, rc, &NOUN_VM, vm->name, &vm->id, err) < 0)
        return -1;
    vm_share sh = share_of(vm);
    if (sums_apply(q, NULL, &sh, err) < 0)
        return -1;
    vm->created_ms = vm->updated_ms = now;
    return 0;
}

static int sq_vm_get(yun_store *s, int64_t id, yun_vm *out, yun_err *err)
{
    return GET_BY_ID(SQ(s), ST_VM_GET, id, read_vm, out, "VM", err);
}

static int sq_vm_get_by_name(yun_store *s, int64_t owner_id, const char *name, yun_vm *out, yun_err *err)
{
    AUTORESET sql_stmt *st = stmt(SQ(s), ST_VM_BY_NAME, err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, owner_id);
    sql_bind_text(st, 2, name, -1);
    char what[128];
    snprintf(what, sizeof what, "VM \"%.80s\"", name);
    return GET_ONE(SQ(s), st, read_vm, out, what, err);
}

static int sq_vm_get_by_uuid(yun_store *s, const char *uuid, yun_vm *out, yun_err *err)
{
    AUTORESET sql_stmt *st = stmt(SQ(s), ST_VM_BY_UUID, err);
    if (!st)
        return -1;
    sql_bind_text(st, 1, uuid, -1);
    char what[128];
    snprintf(what, sizeof what, "VM %.80s", uuid);
    return GET_ONE(SQ(s), st, read_vm, out, what, err);
}

/* Picks the statement for a filter (each variant has its own plan, so the filters use their indexes)
 * and binds ?1 owner, ?2 host (NULL for "not placed"). */
static sql_stmt *vm_filter(sq_store *q, int base, int64_t owner_id, int64_t host_id, yun_err *err)
{
    int variant = (owner_id >= 0 ? 1 : 0) + (host_id >= 0 ? 2 : 0); /* ALL, OWNER, HOST, BOTH */
    sql_stmt *st = stmt(q, base + variant, err);
    if (!st)
        return NULL;
    if (owner_id >= 0)
        sql_bind_int64(st, 1, owner_id);
    if (host_id > 0)
        sql_bind_int64(st, 2, host_id);
    else if (host_id == 0)
        sql_bind_null(st, 2);
    return st;
}

static int sq_vm_list(yun_store *s, int64_t owner_id, int64_t host_id, yun_vm **out, size_t *n, yun_err *err)
{
    AUTORESET sql_stmt *st = vm_filter(SQ(s), ST_VM_LIST_ALL, owner_id, host_id, err);
    if (!st)
        return -1;
    return GET_ALL(SQ(s), st, read_vm, out, n, "VMs", err);
}

/* fn for each VM row of st (store_vm_each's rule) */
static int each_vm(sq_store *q, sql_stmt *st, store_vm_fn fn, void *ud, yun_err *err)
{
    yun_vm vm;
    int rc;
    while ((rc = sql_step(st)) == SQL_ROW) {
        if (read_vm(st, &vm, err) < 0)
            return -1;
        if (fn(&vm, ud))
            return 0;
    }
    if (rc != SQL_DONE)
        return db_fail(q, err, "listing VMs");
    return 0;
}

static int sq_vm_each(yun_store *s, int64_t owner_id, int64_t host_id, store_vm_fn fn, void *ud, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = vm_filter(q, ST_VM_LIST_ALL, owner_id, host_id, err);
    if (!st)
        return -1;
    return each_vm(q, st, fn, ud, err);
}

static int sq_vm_page(yun_store *s, int64_t owner_id, int64_t after_id, int64_t limit, store_vm_fn fn, void *ud,
                      yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = stmt(q, owner_id >= 0 ? ST_VM_PAGE_OWNER : ST_VM_PAGE_ALL, err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, after_id);
    sql_bind_int64(st, 2, limit);
    if (owner_id >= 0)
        sql_bind_int64(st, 3, owner_id);
    return each_vm(q, st, fn, ud, err);
}

static int sq_vm_count(yun_store *s, int64_t owner_id, int64_t host_id, int64_t *n, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = vm_filter(q, ST_VM_COUNT_ALL, owner_id, host_id, err);
    if (!st)
        return -1;
    if (sql_step(st) != SQL_ROW)
        return db_fail(q, err, "counting VMs");
    *n = sql_column_int64(st, 0);
    return 0;
}

static int sq_vm_update(yun_store *s, yun_vm *vm, yun_err *err)
{
    sq_store *q = SQ(s);
    vm_share old;
    int had = share_read(q, vm->id, &old, err);
    if (had < 0)
        return -1;
    AUTORESET sql_stmt *st = stmt(q, ST_VM_UPDATE, err);
    if (!st)
        return -1;
    int64_t now = yun_now_ms();
    sql_bind_int64(st, 1, vm->id);
    BIND_FIELD(st, 2, vm->name);
    bind_vm_spec(st, 3, vm);
    sql_bind_int64(st, 17, vm->created_ms);
    sql_bind_int64(st, 18, now);
    sql_bind_int64(st, 19, vm->started_ms);
    BIND_FIELD(st, 20, vm->probe);
    sql_bind_int64(st, 21, vm->migrate_from);
    BIND_FIELD(st, 22, vm->migrate_error);
    sql_bind_int64(st, 23, vm->migrate_total_ms);
    sql_bind_int64(st, 24, vm->migrate_downtime_ms);
    sql_bind_int64(st, 25, vm->alloc_mhz);
    sql_bind_int(st, 26, vm->utility);
    sql_bind_int(st, 27, vm->ha_priority);
    int rc = sql_step(st);
    if (rc == SQL_CONSTRAINT_FOREIGNKEY)
        return vm_ref_fail(vm, err);
    if (row_updated(q, rc, &NOUN_VM, vm->id, vm->name, err) < 0)
        return -1;
    vm_share sh = share_of(vm);
    if (had && sums_apply(q, &old, &sh, err) < 0)
        return -1;
    vm->updated_ms = now;
    return 0;
}

static int sq_vm_delete(yun_store *s, int64_t id, yun_err *err)
{
    sq_store *q = SQ(s);
    vm_share old;
    int had = share_read(q, id, &old, err);
    if (had < 0 || row_delete(q, ST_VM_DELETE, &NOUN_VM, id, err) < 0)
        return -1;
    return had ? sums_apply(q, &old, NULL, err) : 0;
}

static int sq_usage(yun_store *s, int64_t owner_id, int64_t sums[4], yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = stmt(q, owner_id < 0 ? ST_USAGE_ALL : ST_USAGE_OWNER, err);
    if (!st)
        return -1;
    if (owner_id >= 0)
        sql_bind_int64(st, 1, owner_id);
    if (sql_step(st) != SQL_ROW)
        return db_fail(q, err, "summing usage");
    for (int i = 0; i < 4; i++)
        sums[i] = sql_column_int64(st, i);
    return 0;
}

static int sq_host_use(yun_store *s, yun_host_use **out, size_t *n, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = stmt(q, ST_HOST_USE, err);
    if (!st)
        return -1;
    size_t cap = 0;
    int rc;
    while ((rc = sql_step(st)) == SQL_ROW) {
        xgrow((void **)out, &cap, *n + 1, sizeof **out);
        yun_host_use *u = &(*out)[(*n)++];
        int64_t *f[] = {&u->host_id, &u->vms,      &u->last_vm_id, &u->cpus,
                        &u->mem_mib, &u->disk_mib, &u->min_mhz,    &u->max_mhz};
        for (int i = 0; i < 8; i++)
            *f[i] = sql_column_int64(st, i);
        if (sql_column_int64(st, 8))
            continue;
        /* the host's MHz changed since its row was kept (max_mhz depends on it): summed afresh, not written */
        int64_t mhz;
        int have = host_use_sum(q, u->host_id, u, &mhz, err);
        if (have < 0) {
            free(*out);
            *out = NULL;
            *n = 0;
            return -1;
        }
        if (!have)
            (*n)--;
    }
    if (rc != SQL_DONE) {
        free(*out);
        *out = NULL;
        *n = 0;
        return db_fail(q, err, "summing what VMs reserve on each host");
    }
    return 0;
}

/* ---- settings ---- */
static int sq_setting_get(yun_store *s, const char *key, char *out, size_t n, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = stmt(q, ST_SETTING_GET, err);
    if (!st)
        return -1;
    sql_bind_text(st, 1, key, -1);
    int rc = sql_step(st);
    if (rc == SQL_DONE)
        return yun_err_set(err, YUN_E_NOT_FOUND, "setting %s is not set", key);
    if (rc != SQL_ROW)
        return db_fail(q, err, "reading setting %s", key);
    const char *v = sql_column_text(st, 0);
    size_t len = (size_t)sql_column_bytes(st, 0);
    if (len >= n)
        return yun_err_set(err, YUN_E_INVALID, "setting %s is %zu bytes long: more than the %zu this caller takes", key,
                           len, n - 1);
    if (len)
        memcpy(out, v, len);
    out[len] = '\0';
    return 0;
}

static int sq_setting_set(yun_store *s, const char *key, const char *value, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = stmt(q, ST_SETTING_SET, err);
    if (!st)
        return -1;
    sql_bind_text(st, 1, key, -1);
    sql_bind_text(st, 2, value, -1);
    sql_bind_int64(st, 3, yun_now_ms());
    if (sql_step(st) != SQL_DONE)
        return db_fail(q, err, "writing setting %s", key);
    return 0;
}

/* ---- consoles ---- */
static int sq_console_set(yun_store *s, const char *vm_uuid, const char *data, size_t n, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = stmt(q, ST_CONSOLE_SET, err);
    if (!st)
        return -1;
    sql_bind_text(st, 1, vm_uuid, -1);
    sql_bind_blob(st, 2, data, n);
    sql_bind_int64(st, 3, yun_now_ms());
    int rc = sql_step(st);
    if (rc == SQL_CONSTRAINT_FOREIGNKEY)
        return yun_err_set(err, YUN_E_NOT_FOUND, "VM %s not found: no console to keep", vm_uuid);
    if (rc != SQL_DONE)
        return db_fail(q, err, "writing the console of VM %s", vm_uuid);
    return 0;
}

static int sq_console_get(yun_store *s, const char *vm_uuid, char **out, size_t *n, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = stmt(q, ST_CONSOLE_GET, err);
    if (!st)
        return -1;
    sql_bind_text(st, 1, vm_uuid, -1);
    int rc = sql_step(st);
    if (rc == SQL_DONE)
        return yun_err_set(err, YUN_E_NOT_FOUND, "no console output stored for VM %s", vm_uuid);
    if (rc != SQL_ROW)
        return db_fail(q, err, "reading the console of VM %s", vm_uuid);
    const void *b = sql_column_blob(st, 0);
    size_t len = (size_t)sql_column_bytes(st, 0);
    char *buf = xmalloc(len + 1);
    if (len)
        memcpy(buf, b, len);
    buf[len] = '\0';
    *out = buf;
    *n = len;
    return 0;
}

static int sq_console_delete(yun_store *s, const char *vm_uuid, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = stmt(q, ST_CONSOLE_DELETE, err);
    if (!st)
        return -1;
    sql_bind_text(st, 1, vm_uuid, -1);
    if (sql_step(st) != SQL_DONE)
        return db_fail(q, err, "deleting the console of VM %s", vm_uuid);
    return 0;
}

/* ---- passwords and sessions ---- */
static int sq_password_get(yun_store *s, int64_t user_id, char *out, size_t n, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = stmt(q, ST_PASSWORD_GET, err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, user_id);
    int rc = sql_step(st);
    if (rc == SQL_DONE)
        return yun_err_set(err, YUN_E_NOT_FOUND, "user %lld not found", (long long)user_id);
    if (rc != SQL_ROW)
        return db_fail(q, err, "reading the password of user %lld", (long long)user_id);
    const char *v = sql_column_text(st, 0);
    size_t len = v ? (size_t)sql_column_bytes(st, 0) : 0;
    if (len >= n)
        return yun_err_set(err, YUN_E_INVALID, "the password hash of user %lld is %zu bytes: more than %zu",
                           (long long)user_id, len, n - 1);
    if (len)
        memcpy(out, v, len);
    out[len] = '\0';
    return 0;
}

static int sq_password_set(yun_store *s, int64_t user_id, const char *hash, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = stmt(q, ST_PASSWORD_SET, err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, user_id);
    sql_bind_text(st, 2, hash, -1);
    if (sql_step(st) != SQL_DONE)
        return db_fail(q, err, "writing the password of user %lld", (long long)user_id);
    if (sql_changes(q->db) == 0)
        return yun_err_set(err, YUN_E_NOT_FOUND, "user %lld not found", (long long)user_id);
    return 0;
}

static int sq_session_create(yun_store *s, const char *token_hash, int64_t user_id, int64_t expires_ms, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = stmt(q, ST_SESSION_INSERT, err);
    if (!st)
        return -1;
    sql_bind_text(st, 1, token_hash, -1);
    sql_bind_int64(st, 2, user_id);
    sql_bind_int64(st, 3, yun_now_ms());
    sql_bind_int64(st, 4, expires_ms);
    int rc = sql_step(st);
    if (rc == SQL_CONSTRAINT_FOREIGNKEY)
        return yun_err_set(err, YUN_E_NOT_FOUND, "user %lld not found: no session for them", (long long)user_id);
    if (rc == SQL_CONSTRAINT_UNIQUE || rc == SQL_CONSTRAINT_UNIQUE)
        return yun_err_set(err, YUN_E_CONFLICT, "a session with this token already exists");
    if (rc != SQL_DONE)
        return db_fail(q, err, "creating a session for user %lld", (long long)user_id);
    return 0;
}

static int sq_session_get(yun_store *s, const char *token_hash, int64_t now_ms, yun_user *user, int64_t *expires_ms,
                          yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = stmt(q, ST_SESSION_GET, err);
    if (!st)
        return -1;
    sql_bind_text(st, 1, token_hash, -1);
    sql_bind_int64(st, 2, now_ms);
    int rc = sql_step(st);
    if (rc == SQL_DONE)
        return yun_err_set(err, YUN_E_NOT_FOUND, "no such session, or it has expired"); /* never echo a secret */
    if (rc != SQL_ROW)
        return db_fail(q, err, "reading a session");
    if (read_user(st, user, err) < 0)
        return -1;
    if (expires_ms)
        *expires_ms = sql_column_int64(st, 9);
    return 0;
}

static int sq_session_delete(yun_store *s, const char *token_hash, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = stmt(q, ST_SESSION_DELETE, err);
    if (!st)
        return -1;
    sql_bind_text(st, 1, token_hash, -1);
    if (sql_step(st) != SQL_DONE)
        return db_fail(q, err, "deleting a session");
    return 0;
}

static int sq_session_delete_user(yun_store *s, int64_t user_id, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = stmt(q, ST_SESSION_DELETE_USER, err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, user_id);
    if (sql_step(st) != SQL_DONE)
        return db_fail(q, err, "deleting the sessions of user %lld", (long long)user_id);
    return 0;
}

static int sq_session_expire(yun_store *s, int64_t now_ms, int64_t *removed, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = stmt(q, ST_SESSION_EXPIRE, err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, now_ms);
    if (sql_step(st) != SQL_DONE)
        return db_fail(q, err, "deleting expired sessions");
    if (removed)
        *removed = sql_changes(q->db);
    return 0;
}

/* ---- the dispatcher's decisions ---- */
static int read_decision(sql_stmt *st, yun_decision *d, yun_err *err)
{
    (void)err;
    memset(d, 0, sizeof *d);
    d->id = sql_column_int64(st, 0);
    d->at_ms = sql_column_int64(st, 1);
    d->kind = sql_column_int(st, 2);
    COL_FIELD(st, 3, d->vm_uuid);
    COL_FIELD(st, 4, d->vm);
    d->vm_id = sql_column_int64(st, 5);
    d->from_id = sql_column_int64(st, 6);
    d->to_id = sql_column_int64(st, 7);
    COL_FIELD(st, 8, d->from);
    COL_FIELD(st, 9, d->to);
    COL_FIELD(st, 10, d->reason);
    COL_FIELD(st, 11, d->outcome);
    return 0;
}

static int sq_decision_add(yun_store *s, yun_decision *d, yun_err *err)
{
    sq_store *q = SQ(s);
    {
        AUTORESET sql_stmt *st = stmt(q, ST_DECISION_ADD, err);
        if (!st)
            return -1;
        sql_bind_int64(st, 1, d->at_ms);
        sql_bind_int(st, 2, d->kind);
        BIND_FIELD(st, 3, d->vm_uuid);
        BIND_FIELD(st, 4, d->vm);
        sql_bind_int64(st, 5, d->vm_id);
        sql_bind_int64(st, 6, d->from_id);
        sql_bind_int64(st, 7, d->to_id);
        BIND_FIELD(st, 8, d->from);
        BIND_FIELD(st, 9, d->to);
        BIND_FIELD(st, 10, d->reason);
        BIND_FIELD(st, 11, d->outcome);
        if (sql_step(st) != SQL_ROW)
            return db_fail(q, err, "keeping a dispatcher decision");
        d->id = sql_column_int64(st, 0);
    }
    AUTORESET sql_stmt *st = stmt(q, ST_DECISION_PRUNE, err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, d->id - STORE_DECISIONS_KEPT);
    if (sql_step(st) != SQL_DONE)
        return db_fail(q, err, "dropping old dispatcher decisions");
    return 0;
}

static int sq_decision_list(yun_store *s, size_t max, yun_decision **out, size_t *n, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = stmt(q, ST_DECISION_LIST, err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, (int64_t)(max < STORE_DECISIONS_KEPT ? max : STORE_DECISIONS_KEPT));
    return GET_ALL(q, st, read_decision, out, n, "dispatcher decisions", err);
}

/* ---- statements of their own (job_prepare) ----
 * The statements of the jobs, host keys, SSH keys and seeds, networks and leases, logins and audit functions,
 * kept apart from the statement table so each schema step stays one self-contained block; each is prepared on its
 * first use and kept (by its text's address) until the store closes, since every agent report asks for its host's
 * jobs (preparing it anew was a tenth of yund's CPU at 200 hosts). Callers reset it (AUTORESET), never finalize.
 * The same on both back ends: on SQLite the cache keeps the compiled statement, on PostgreSQL the rewritten text
 * (sql_prepare there makes no round trip). */
static sql_stmt *job_prepare(sq_store *q, const char *text, yun_err *err)
{
    size_t i = 0;
    while (i < SQ_JOB_STMTS && q->job_st[i].text && q->job_st[i].text != text)
        i++;
    if (i == SQ_JOB_STMTS) {
        yun_err_set(err, YUN_E_INTERNAL, "more job statements than SQ_JOB_STMTS (%d)", SQ_JOB_STMTS);
        return NULL;
    }
    if (q->job_st[i].text)
        return q->job_st[i].st;
    sql_stmt *st = sql_prepare(q->db, text, err);
    if (!st)
        return NULL;
    q->job_st[i].text = text;
    q->job_st[i].st = st;
    return st;
}

/* ---- SSH keys and seeds (schema 17): keys change rarely, a seed is read once per VM an agent starts ---- */
#define KEY_COLS "id, " KEY_INSERT_COLS
#define KEY_INSERT_COLS "owner_id, name, pubkey, fingerprint, created_ms"

static int read_key(sql_stmt *st, yun_ssh_key *k, yun_err *err)
{
    (void)err;
    memset(k, 0, sizeof *k);
    k->id = sql_column_int64(st, 0);
    k->owner_id = sql_column_int64(st, 1);
    COL_FIELD(st, 2, k->name);
    COL_FIELD(st, 3, k->pubkey);
    COL_FIELD(st, 4, k->fingerprint);
    k->created_ms = sql_column_int64(st, 5);
    return 0;
}

static int sq_key_create(yun_store *s, yun_ssh_key *k, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st =
        job_prepare(q, "INSERT INTO ssh_keys (" KEY_INSERT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id", err);
    if (!st)
        return -1;
    if (!k->created_ms)
        k->created_ms = yun_now_ms();
    sql_bind_int64(st, 1, k->owner_id);
    BIND_FIELD(st, 2, k->name);
    BIND_FIELD(st, 3, k->pubkey);
    BIND_FIELD(st, 4, k->fingerprint);
    sql_bind_int64(st, 5, k->created_ms);
    int rc = sql_step(st);
    if (rc == SQL_CONSTRAINT_UNIQUE)
        return yun_err_set(err, YUN_E_CONFLICT,
                           "you already have an SSH key named \"%s\": pick another name, or "
                           "delete that one first",
                           k->name);
    if (rc == SQL_CONSTRAINT_FOREIGNKEY)
        return yun_err_set(err, YUN_E_NOT_FOUND, "user %lld not found", (long long)k->owner_id);
    if (rc != SQL_ROW)
        return db_fail(q, err, "adding SSH key %s", k->name);
    k->id = sql_column_int64(st, 0);
    return 0;
}

static int sq_key_get(yun_store *s, int64_t owner_id, const char *name, yun_ssh_key *out, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "SELECT " KEY_COLS " FROM ssh_keys WHERE owner_id = ?1 AND name = ?2", err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, owner_id);
    sql_bind_text(st, 2, name, -1);
    char what[YUN_NAME_MAX + 16];
    snprintf(what, sizeof what, "SSH key %s", name);
    return get_one(q, st, (read_fn)read_key, out, what, err);
}

static int sq_key_list(yun_store *s, int64_t owner_id, yun_ssh_key **out, size_t *n, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "SELECT " KEY_COLS " FROM ssh_keys WHERE owner_id = ?1 ORDER BY name", err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, owner_id);
    return GET_ALL(q, st, read_key, out, n, "SSH keys", err);
}

static int sq_key_delete(yun_store *s, int64_t owner_id, const char *name, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "DELETE FROM ssh_keys WHERE owner_id = ?1 AND name = ?2", err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, owner_id);
    sql_bind_text(st, 2, name, -1);
    if (sql_step(st) != SQL_DONE)
        return db_fail(q, err, "deleting SSH key %s", name);
    if (sql_changes(q->db) == 0)
        return yun_err_set(err, YUN_E_NOT_FOUND, "no SSH key named %s: yun key list shows yours", name);
    return 0;
}

static int sq_seed_set(yun_store *s, const char *vm_uuid, const char *user_data, size_t n, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q,
                                         "INSERT INTO seeds (vm_uuid, user_data) VALUES (?1, ?2) "
                                         "ON CONFLICT (vm_uuid) DO UPDATE SET user_data = excluded.user_data",
                                         err);
    if (!st)
        return -1;
    sql_bind_text(st, 1, vm_uuid, -1);
    sql_bind_blob(st, 2, user_data, n);
    int rc = sql_step(st);
    if (rc == SQL_CONSTRAINT_FOREIGNKEY)
        return yun_err_set(err, YUN_E_NOT_FOUND, "VM %s not found: no seed to keep", vm_uuid);
    if (rc != SQL_DONE)
        return db_fail(q, err, "writing the seed of VM %s", vm_uuid);
    return 0;
}

static int sq_seed_get(yun_store *s, const char *vm_uuid, char **out, size_t *n, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "SELECT user_data FROM seeds WHERE vm_uuid = ?1", err);
    if (!st)
        return -1;
    sql_bind_text(st, 1, vm_uuid, -1);
    int rc = sql_step(st);
    if (rc == SQL_DONE)
        return yun_err_set(err, YUN_E_NOT_FOUND, "no seed stored for VM %s", vm_uuid);
    if (rc != SQL_ROW)
        return db_fail(q, err, "reading the seed of VM %s", vm_uuid);
    const void *b = sql_column_blob(st, 0);
    size_t len = sql_column_bytes(st, 0);
    char *buf = xmalloc(len + 1);
    if (len)
        memcpy(buf, b, len);
    buf[len] = '\0';
    *out = buf;
    *n = len;
    return 0;
}

/* ---- jobs (schema 12) ---- */
#define JOB_COLS "id, " JOB_INSERT_COLS
#define JOB_INSERT_COLS                                                                                                \
    "kind, state, owner_id, vm_uuid, vm_name, host_id, parent_id, incremental, name, path, bytes, sha256, "            \
    "memory, image_id, cpus, mem_mib, disk_mib, note, error, created_ms, done_ms, duration_ms, pause_ms, start_after"

static int read_job(sql_stmt *st, yun_job *j, yun_err *err)
{
    memset(j, 0, sizeof *j);
    char kind[32], state[16];
    j->id = sql_column_int64(st, 0);
    COL_FIELD(st, 1, kind);
    COL_FIELD(st, 2, state);
    int k = model_job_kind_parse(kind), t = model_job_state_parse(state);
    if (k < 0 || t < 0)
        return yun_err_set(err, YUN_E_STORE, "job %lld has an unknown kind \"%s\" or state \"%s\"", (long long)j->id,
                           kind, state);
    j->kind = (yun_job_kind)k;
    j->state = (yun_job_state)t;
    j->owner_id = sql_column_int64(st, 3);
    COL_FIELD(st, 4, j->vm_uuid);
    COL_FIELD(st, 5, j->vm_name);
    j->host_id = sql_column_int64(st, 6);
    j->parent_id = sql_column_int64(st, 7);
    j->incremental = sql_column_int(st, 8) != 0;
    COL_FIELD(st, 9, j->name);
    COL_FIELD(st, 10, j->path);
    j->bytes = sql_column_int64(st, 11);
    COL_FIELD(st, 12, j->sha256);
    j->memory = sql_column_int(st, 13) != 0;
    j->image_id = sql_column_int64(st, 14);
    j->cpus = sql_column_int64(st, 15);
    j->mem_mib = sql_column_int64(st, 16);
    j->disk_mib = sql_column_int64(st, 17);
    COL_FIELD(st, 18, j->note);
    COL_FIELD(st, 19, j->error);
    j->created_ms = sql_column_int64(st, 20);
    j->done_ms = sql_column_int64(st, 21);
    j->duration_ms = sql_column_int64(st, 22);
    j->pause_ms = sql_column_int64(st, 23);
    j->start_after = sql_column_int(st, 24) != 0;
    return 0;
}

/* Binds the columns after id (?2 .. ?25) in JOB_COLS' order. */
static void bind_job(sql_stmt *st, const yun_job *j)
{
    sql_bind_text(st, 2, model_job_kind_name(j->kind), -1);
    sql_bind_text(st, 3, model_job_state_name(j->state), -1);
    sql_bind_int64(st, 4, j->owner_id);
    BIND_FIELD(st, 5, j->vm_uuid);
    BIND_FIELD(st, 6, j->vm_name);
    sql_bind_int64(st, 7, j->host_id);
    sql_bind_int64(st, 8, j->parent_id);
    sql_bind_int(st, 9, j->incremental);
    BIND_FIELD(st, 10, j->name);
    BIND_FIELD(st, 11, j->path);
    sql_bind_int64(st, 12, j->bytes);
    BIND_FIELD(st, 13, j->sha256);
    sql_bind_int(st, 14, j->memory);
    sql_bind_int64(st, 15, j->image_id);
    sql_bind_int64(st, 16, j->cpus);
    sql_bind_int64(st, 17, j->mem_mib);
    sql_bind_int64(st, 18, j->disk_mib);
    BIND_FIELD(st, 19, j->note);
    BIND_FIELD(st, 20, j->error);
    sql_bind_int64(st, 21, j->created_ms);
    sql_bind_int64(st, 22, j->done_ms);
    sql_bind_int64(st, 23, j->duration_ms);
    sql_bind_int64(st, 24, j->pause_ms);
    sql_bind_int(st, 25, j->start_after);
}

static int sq_job_create(yun_store *s, yun_job *j, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q,
                                         "INSERT INTO jobs (" JOB_INSERT_COLS
                                         ") VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
                                         "?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25) RETURNING id",
                                         err);
    if (!st)
        return -1;
    if (!j->created_ms)
        j->created_ms = yun_now_ms();
    bind_job(st, j);
    if (sql_step(st) != SQL_ROW)
        return db_fail(q, err, "recording a %s of VM %s", model_job_kind_name(j->kind), j->vm_name);
    j->id = sql_column_int64(st, 0);
    return 0;
}

static int sq_job_get(yun_store *s, int64_t id, yun_job *out, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "SELECT " JOB_COLS " FROM jobs WHERE id = ?1", err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, id);
    char what[64];
    snprintf(what, sizeof what, "job %lld", (long long)id);
    return get_one(q, st, (read_fn)read_job, out, what, err);
}

static int sq_job_list(yun_store *s, const store_job_filter *f, yun_job **out, size_t *n, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st =
        job_prepare(q,
                    "SELECT " JOB_COLS " FROM jobs WHERE (?1 < 0 OR owner_id = ?1) AND (?2 IS NULL OR vm_uuid = ?2) "
                    "AND (?3 <= 0 OR host_id = ?3) AND (?4 IS NULL OR kind = ?4) "
                    "AND (?5 = 0 OR state IN ('pending', 'running')) ORDER BY id",
                    err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, f->owner_id);
    if (f->vm_uuid)
        sql_bind_text(st, 2, f->vm_uuid, -1);
    sql_bind_int64(st, 3, f->host_id);
    if (f->kind >= 0)
        sql_bind_text(st, 4, model_job_kind_name((yun_job_kind)f->kind), -1);
    sql_bind_int(st, 5, f->active);
    return GET_ALL(q, st, read_job, out, n, "jobs", err);
}

static int sq_job_update(yun_store *s, const yun_job *j, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(
        q,
        "UPDATE jobs SET state = ?3, host_id = ?7, parent_id = ?8, incremental = ?9, name = ?10, path = ?11, "
        "bytes = ?12, sha256 = ?13, memory = ?14, image_id = ?15, cpus = ?16, mem_mib = ?17, disk_mib = ?18, "
        "note = ?19, error = ?20, created_ms = ?21, done_ms = ?22, duration_ms = ?23, pause_ms = ?24, "
        "start_after = ?25 WHERE id = ?1 AND kind = ?2 AND owner_id = ?4 AND vm_uuid = ?5 AND vm_name = ?6",
        err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, j->id);
    bind_job(st, j);
    return row_written(q, sql_step(st), "job", j->id, err, "updating job %lld", (long long)j->id);
}

static int sq_job_delete(yun_store *s, int64_t id, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "DELETE FROM jobs WHERE id = ?1", err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, id);
    return row_written(q, sql_step(st), "job", id, err, "deleting job %lld", (long long)id);
}

static int read_schedule(sql_stmt *st, yun_backup_schedule *b, yun_err *err)
{
    (void)err;
    memset(b, 0, sizeof *b);
    COL_FIELD(st, 0, b->vm_uuid);
    b->owner_id = sql_column_int64(st, 1);
    b->every_ms = sql_column_int64(st, 2);
    b->keep = sql_column_int64(st, 3);
    b->next_ms = sql_column_int64(st, 4);
    return 0;
}

static int sq_schedule_set(yun_store *s, const yun_backup_schedule *b, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q,
                                         "INSERT INTO backup_schedules (vm_uuid, owner_id, every_ms, keep, next_ms) "
                                         "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (vm_uuid) DO UPDATE SET "
                                         "owner_id = excluded.owner_id, every_ms = excluded.every_ms, "
                                         "keep = excluded.keep, next_ms = excluded.next_ms",
                                         err);
    if (!st)
        return -1;
    BIND_FIELD(st, 1, b->vm_uuid);
    sql_bind_int64(st, 2, b->owner_id);
    sql_bind_int64(st, 3, b->every_ms);
    sql_bind_int64(st, 4, b->keep);
    sql_bind_int64(st, 5, b->next_ms);
    if (sql_step(st) != SQL_DONE)
        return db_fail(q, err, "setting the backup schedule of VM %s", b->vm_uuid);
    return 0;
}

#define SCHEDULE_COLS "vm_uuid, owner_id, every_ms, keep, next_ms"

static int sq_schedule_get(yun_store *s, const char *vm_uuid, yun_backup_schedule *out, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "SELECT " SCHEDULE_COLS " FROM backup_schedules WHERE vm_uuid = ?1", err);
    if (!st)
        return -1;
    sql_bind_text(st, 1, vm_uuid, -1);
    char what[80];
    snprintf(what, sizeof what, "backup schedule of VM %s", vm_uuid);
    return get_one(q, st, (read_fn)read_schedule, out, what, err);
}

static int sq_schedule_list(yun_store *s, yun_backup_schedule **out, size_t *n, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "SELECT " SCHEDULE_COLS " FROM backup_schedules ORDER BY vm_uuid", err);
    if (!st)
        return -1;
    return GET_ALL(q, st, read_schedule, out, n, "backup schedules", err);
}

static int sq_schedule_delete(yun_store *s, const char *vm_uuid, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "DELETE FROM backup_schedules WHERE vm_uuid = ?1", err);
    if (!st)
        return -1;
    sql_bind_text(st, 1, vm_uuid, -1);
    if (sql_step(st) != SQL_DONE)
        return db_fail(q, err, "deleting the backup schedule of VM %s", vm_uuid);
    return 0;
}

/* ---- host keys (schema 16) ---- */
static int read_host_key(sql_stmt *st, yun_host_key *k, yun_err *err)
{
    (void)err;
    memset(k, 0, sizeof *k);
    COL_FIELD(st, 0, k->name);
    COL_FIELD(st, 1, k->join_hash);
    k->join_expires_ms = sql_column_int64(st, 2);
    COL_FIELD(st, 3, k->cred_hash);
    k->created_ms = sql_column_int64(st, 4);
    return 0;
}

static int sq_host_key_set(yun_store *s, const yun_host_key *k, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q,
                                         "INSERT INTO host_keys (" HOST_KEY_COLS ") VALUES (?1, ?2, ?3, ?4, ?5) "
                                         "ON CONFLICT (name) DO UPDATE SET join_hash = excluded.join_hash, "
                                         "join_expires_ms = excluded.join_expires_ms, "
                                         "cred_hash = excluded.cred_hash, created_ms = excluded.created_ms",
                                         err);
    if (!st)
        return -1;
    BIND_FIELD(st, 1, k->name);
    BIND_FIELD(st, 2, k->join_hash);
    sql_bind_int64(st, 3, k->join_expires_ms);
    BIND_FIELD(st, 4, k->cred_hash);
    sql_bind_int64(st, 5, k->created_ms);
    if (sql_step(st) != SQL_DONE)
        return db_fail(q, err, "writing the key of host %s", k->name);
    return 0;
}

static int sq_host_key_get(yun_store *s, const char *name, yun_host_key *out, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "SELECT " HOST_KEY_COLS " FROM host_keys WHERE name = ?1", err);
    if (!st)
        return -1;
    sql_bind_text(st, 1, name, -1);
    char what[YUN_NAME_MAX + 256];
    snprintf(what, sizeof what, "key of host %s", name);
    return get_one(q, st, (read_fn)read_host_key, out, what, err);
}

static int sq_host_key_by_hash(yun_store *s, const char *hash, yun_host_key *out, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = stmt(q, ST_HOST_KEY_BY_HASH, err);
    if (!st)
        return -1;
    sql_bind_text(st, 1, hash, -1);
    return get_one(q, st, (read_fn)read_host_key, out, "host key", err); /* never echo a secret */
}

static int sq_host_key_delete(yun_store *s, const char *name, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "DELETE FROM host_keys WHERE name = ?1", err);
    if (!st)
        return -1;
    sql_bind_text(st, 1, name, -1);
    if (sql_step(st) != SQL_DONE)
        return db_fail(q, err, "deleting the key of host %s", name);
    if (sql_changes(q->db) == 0)
        return yun_err_set(err, YUN_E_NOT_FOUND, "host %s has no key: nothing to revoke", name);
    return 0;
}

/* ---- cloud networks and leases (schema 18) ---- */
#define NETWORK_COLS "n.id, n.name, n.owner_id, u.name, n.subnet, n.vni, n.is_public, n.created_ms"
#define NETWORK_FROM " FROM networks n JOIN users u ON u.id = n.owner_id"

static int read_network(sql_stmt *st, yun_network *n, yun_err *err)
{
    (void)err;
    memset(n, 0, sizeof *n);
    n->id = sql_column_int64(st, 0);
    COL_FIELD(st, 1, n->name);
    n->owner_id = sql_column_int64(st, 2);
    COL_FIELD(st, 3, n->owner_name);
    COL_FIELD(st, 4, n->subnet);
    n->vni = sql_column_int64(st, 5);
    n->is_public = sql_column_int(st, 6) != 0;
    n->created_ms = sql_column_int64(st, 7);
    return 0;
}

static int sq_network_create(yun_store *s, yun_network *n, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q,
                                         "INSERT INTO networks (name, owner_id, subnet, vni, is_public, created_ms) "
                                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                                         err);
    if (!st)
        return -1;
    n->created_ms = yun_now_ms();
    BIND_FIELD(st, 1, n->name);
    sql_bind_int64(st, 2, n->owner_id);
    BIND_FIELD(st, 3, n->subnet);
    sql_bind_int64(st, 4, n->vni);
    sql_bind_int(st, 5, n->is_public);
    sql_bind_int64(st, 6, n->created_ms);
    int rc = sql_step(st);
    if (rc == SQL_CONSTRAINT_FOREIGNKEY)
        return yun_err_set(err, YUN_E_NOT_FOUND, "network %s: owner %lld not found", n->name, (long long)n->owner_id);
    /* which UNIQUE: SQLite says networks.vni, PostgreSQL networks_vni_key */
    if (rc == SQL_CONSTRAINT_UNIQUE && strstr(sql_errmsg(q->db), "vni"))
        return yun_err_set(err, YUN_E_CONFLICT, "network %s: VNI %lld is taken", n->name, (long long)n->vni);
    if (rc == SQL_CONSTRAINT_UNIQUE)
        return yun_err_set(err, YUN_E_CONFLICT,
                           "a network named \"%s\" already exists for this owner: pick another name", n->name);
    if (rc != SQL_ROW)
        return db_fail(q, err, "creating network %s", n->name);
    n->id = sql_column_int64(st, 0);
    return 0;
}

static int sq_network_get(yun_store *s, int64_t id, yun_network *out, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "SELECT " NETWORK_COLS NETWORK_FROM " WHERE n.id = ?1", err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, id);
    char what[64];
    snprintf(what, sizeof what, "network %lld", (long long)id);
    return get_one(q, st, (read_fn)read_network, out, what, err);
}

static int sq_network_get_by_name(yun_store *s, int64_t owner_id, const char *name, yun_network *out, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st =
        job_prepare(q, "SELECT " NETWORK_COLS NETWORK_FROM " WHERE n.owner_id = ?1 AND n.name = ?2", err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, owner_id);
    sql_bind_text(st, 2, name, -1);
    char what[128];
    snprintf(what, sizeof what, "network \"%.64s\"", name);
    return get_one(q, st, (read_fn)read_network, out, what, err);
}

static int sq_network_list(yun_store *s, yun_network **out, size_t *n, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "SELECT " NETWORK_COLS NETWORK_FROM " ORDER BY n.id", err);
    if (!st)
        return -1;
    return GET_ALL(q, st, read_network, out, n, "networks", err);
}

static int sq_network_delete(yun_store *s, int64_t id, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "DELETE FROM networks WHERE id = ?1", err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, id);
    int rc = sql_step(st);
    if (rc == SQL_CONSTRAINT_FOREIGNKEY)
        return yun_err_set(err, YUN_E_CONFLICT, "network %lld still has VMs: delete them first", (long long)id);
    return row_written(q, rc, "network", id, err, "deleting network %lld", (long long)id);
}

/* ---- virtual clusters (schema 20) ---- */
#define CLUSTER_SELECT                                                                                                 \
    "SELECT c.id, c.owner_id, u.name, c.name, c.nodes, c.image_id, c.head_image_id, c.cpus, c.mem_mib, "               \
    "c.network_id, c.own_network, c.deleting, c.pubkey, c.privkey, c.created_ms FROM clusters c JOIN users u ON "      \
    "u.id = c.owner_id"

static int read_cluster(sql_stmt *st, yun_cluster *c, yun_err *err)
{
    (void)err;
    memset(c, 0, sizeof *c);
    c->id = sql_column_int64(st, 0);
    c->owner_id = sql_column_int64(st, 1);
    COL_FIELD(st, 2, c->owner_name);
    COL_FIELD(st, 3, c->name);
    c->nodes = sql_column_int(st, 4);
    c->image_id = sql_column_int64(st, 5);
    c->head_image_id = sql_column_int64(st, 6);
    c->cpus = sql_column_int(st, 7);
    c->mem_mib = (uint64_t)sql_column_int64(st, 8);
    c->network_id = sql_column_int64(st, 9);
    c->own_network = sql_column_int(st, 10) != 0;
    c->deleting = sql_column_int(st, 11) != 0;
    COL_FIELD(st, 12, c->pubkey);
    COL_FIELD(st, 13, c->privkey);
    c->created_ms = sql_column_int64(st, 14);
    return 0;
}

static int sq_cluster_create(yun_store *s, yun_cluster *c, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(
        q,
        "INSERT INTO clusters (owner_id, name, nodes, image_id, head_image_id, cpus, mem_mib, network_id, "
        "own_network, deleting, pubkey, privkey, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
        "?11, ?12, ?13) RETURNING id",
        err);
    if (!st)
        return -1;
    c->created_ms = yun_now_ms();
    sql_bind_int64(st, 1, c->owner_id);
    BIND_FIELD(st, 2, c->name);
    sql_bind_int(st, 3, c->nodes);
    sql_bind_int64(st, 4, c->image_id);
    sql_bind_int64(st, 5, c->head_image_id);
    sql_bind_int(st, 6, c->cpus);
    sql_bind_int64(st, 7, (int64_t)c->mem_mib);
    sql_bind_int64(st, 8, c->network_id);
    sql_bind_int(st, 9, c->own_network);
    sql_bind_int(st, 10, c->deleting);
    BIND_FIELD(st, 11, c->pubkey);
    BIND_FIELD(st, 12, c->privkey);
    sql_bind_int64(st, 13, c->created_ms);
    int rc = sql_step(st);
    if (rc == SQL_CONSTRAINT_FOREIGNKEY)
        return yun_err_set(err, YUN_E_NOT_FOUND, "cluster %s: its owner or network is gone", c->name);
    if (rc == SQL_CONSTRAINT_UNIQUE)
        return yun_err_set(err, YUN_E_CONFLICT,
                           "a cluster named \"%s\" already exists for this owner: pick another name", c->name);
    if (rc != SQL_ROW)
        return db_fail(q, err, "creating cluster %s", c->name);
    c->id = sql_column_int64(st, 0);
    return 0;
}

static int sq_cluster_get_by_name(yun_store *s, int64_t owner_id, const char *name, yun_cluster *out, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, CLUSTER_SELECT " WHERE c.owner_id = ?1 AND c.name = ?2", err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, owner_id);
    sql_bind_text(st, 2, name, -1);
    char what[128];
    snprintf(what, sizeof what, "cluster \"%.64s\"", name);
    return get_one(q, st, (read_fn)read_cluster, out, what, err);
}

static int sq_cluster_list(yun_store *s, int64_t owner_id, yun_cluster **out, size_t *n, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, CLUSTER_SELECT " WHERE ?1 < 0 OR c.owner_id = ?1 ORDER BY c.id", err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, owner_id);
    return GET_ALL(q, st, read_cluster, out, n, "clusters", err);
}

static int sq_cluster_update(yun_store *s, const yun_cluster *c, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "UPDATE clusters SET nodes = ?2, deleting = ?3 WHERE id = ?1", err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, c->id);
    sql_bind_int(st, 2, c->nodes);
    sql_bind_int(st, 3, c->deleting);
    return row_written(q, sql_step(st), "cluster", c->id, err, "updating cluster %s", c->name);
}

static int sq_cluster_delete(yun_store *s, int64_t id, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "DELETE FROM clusters WHERE id = ?1", err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, id);
    return row_written(q, sql_step(st), "cluster", id, err, "deleting cluster %lld", (long long)id);
}

static int read_lease(sql_stmt *st, yun_lease *l, yun_err *err)
{
    (void)err;
    memset(l, 0, sizeof *l);
    l->vm_id = sql_column_int64(st, 0);
    l->network_id = sql_column_int64(st, 1);
    COL_FIELD(st, 2, l->ip);
    return 0;
}

static int sq_lease_add(yun_store *s, const yun_lease *l, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "INSERT INTO leases (vm_id, network_id, ip) VALUES (?1, ?2, ?3)", err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, l->vm_id);
    sql_bind_int64(st, 2, l->network_id);
    BIND_FIELD(st, 3, l->ip);
    int rc = sql_step(st);
    if (rc == SQL_CONSTRAINT_FOREIGNKEY)
        return yun_err_set(err, YUN_E_NOT_FOUND, "lease %s: VM %lld or network %lld not found", l->ip,
                           (long long)l->vm_id, (long long)l->network_id);
    if (rc == SQL_CONSTRAINT_UNIQUE)
        return yun_err_set(err, YUN_E_CONFLICT, "address %s of network %lld is taken, or VM %lld has one", l->ip,
                           (long long)l->network_id, (long long)l->vm_id);
    if (rc != SQL_DONE)
        return db_fail(q, err, "adding lease %s", l->ip);
    return 0;
}

static int sq_lease_get(yun_store *s, int64_t vm_id, yun_lease *out, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "SELECT vm_id, network_id, ip FROM leases WHERE vm_id = ?1", err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, vm_id);
    char what[64];
    snprintf(what, sizeof what, "the lease of VM %lld", (long long)vm_id);
    return get_one(q, st, (read_fn)read_lease, out, what, err);
}

static int sq_lease_list(yun_store *s, int64_t network_id, yun_lease **out, size_t *n, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(
        q, "SELECT vm_id, network_id, ip FROM leases WHERE ?1 < 0 OR network_id = ?1 ORDER BY network_id, vm_id", err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, network_id);
    return GET_ALL(q, st, read_lease, out, n, "leases", err);
}

static int read_net_member(sql_stmt *st, yun_net_member *m, yun_err *err)
{
    memset(m, 0, sizeof *m);
    read_lease(st, &m->lease, err);
    COL_FIELD(st, 3, m->vm_name);
    m->host_id = sql_column_int64(st, 4);
    m->migrate_from = sql_column_int64(st, 5);
    return 0;
}

static int sq_net_members(yun_store *s, int64_t host_id, yun_net_member **out, size_t *n, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(
        q,
        "SELECT l.vm_id, l.network_id, l.ip, v.name, COALESCE(v.host_id, 0), COALESCE(v.migrate_from, 0) "
        "FROM leases l JOIN vms v ON v.id = l.vm_id WHERE l.network_id IN (SELECT network_id FROM leases WHERE "
        "vm_id IN (SELECT id FROM vms WHERE host_id = ?1 UNION SELECT id FROM vms WHERE migrate_from = ?1)) "
        "ORDER BY l.network_id, l.vm_id",
        err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, host_id);
    return GET_ALL(q, st, read_net_member, out, n, "network members", err);
}

/* ---- failed logins and the audit log (schema 19) ---- */
static int sq_login_failure_get(yun_store *s, const char *key, yun_login_failure *out, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "SELECT failures, last_ms FROM login_failures WHERE key = ?1", err);
    if (!st)
        return -1;
    sql_bind_text(st, 1, key, -1);
    memset(out, 0, sizeof *out);
    snprintf(out->key, sizeof out->key, "%s", key);
    int rc = sql_step(st);
    if (rc == SQL_DONE)
        return yun_err_set(err, YUN_E_NOT_FOUND, "no failed logins for %s", key);
    if (rc != SQL_ROW)
        return db_fail(q, err, "reading the failed logins of %s", key);
    out->failures = sql_column_int64(st, 0);
    out->last_ms = sql_column_int64(st, 1);
    return 0;
}

static int sq_login_failure_set(yun_store *s, const yun_login_failure *f, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st =
        job_prepare(q,
                    "INSERT INTO login_failures (key, failures, last_ms) VALUES (?1, ?2, ?3) "
                    "ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, last_ms = excluded.last_ms",
                    err);
    if (!st)
        return -1;
    BIND_FIELD(st, 1, f->key);
    sql_bind_int64(st, 2, f->failures);
    sql_bind_int64(st, 3, f->last_ms);
    if (sql_step(st) != SQL_DONE)
        return db_fail(q, err, "writing the failed logins of %s", f->key);
    return 0;
}

static int sq_login_failure_delete(yun_store *s, const char *key, bool *existed, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "DELETE FROM login_failures WHERE key = ?1", err);
    if (!st)
        return -1;
    sql_bind_text(st, 1, key, -1);
    if (sql_step(st) != SQL_DONE)
        return db_fail(q, err, "clearing the failed logins of %s", key);
    if (existed)
        *existed = sql_changes(q->db) > 0;
    return 0;
}

static int sq_login_failure_prune(yun_store *s, int64_t before_ms, int64_t *removed, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "DELETE FROM login_failures WHERE last_ms < ?1", err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, before_ms);
    if (sql_step(st) != SQL_DONE)
        return db_fail(q, err, "pruning failed logins");
    if (removed)
        *removed = sql_changes(q->db);
    return 0;
}

static int sq_audit_add(yun_store *s, yun_audit *a, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q,
                                         "INSERT INTO audit (at_ms, \"user\", action, target, address, status, "
                                         "result) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
                                         err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, a->at_ms);
    BIND_FIELD(st, 2, a->user);
    BIND_FIELD(st, 3, a->action);
    BIND_FIELD(st, 4, a->target);
    BIND_FIELD(st, 5, a->address);
    sql_bind_int(st, 6, a->status);
    BIND_FIELD(st, 7, a->result);
    if (sql_step(st) != SQL_ROW)
        return db_fail(q, err, "writing the audit log");
    a->id = sql_column_int64(st, 0);
    return 0;
}

static int read_audit(sql_stmt *st, yun_audit *a, yun_err *err)
{
    (void)err;
    memset(a, 0, sizeof *a);
    a->id = sql_column_int64(st, 0);
    a->at_ms = sql_column_int64(st, 1);
    COL_FIELD(st, 2, a->user);
    COL_FIELD(st, 3, a->action);
    COL_FIELD(st, 4, a->target);
    COL_FIELD(st, 5, a->address);
    a->status = sql_column_int(st, 6);
    COL_FIELD(st, 7, a->result);
    return 0;
}

static int sq_audit_list(yun_store *s, const char *user, int64_t since_ms, size_t max, yun_audit **out, size_t *n,
                         yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q,
                                         "SELECT id, at_ms, \"user\", action, target, address, status, result "
                                         "FROM audit WHERE (?1 IS NULL OR \"user\" = ?1) AND at_ms >= ?2 "
                                         "ORDER BY id DESC LIMIT ?3",
                                         err);
    if (!st)
        return -1;
    if (user)
        sql_bind_text(st, 1, user, -1);
    sql_bind_int64(st, 2, since_ms);
    sql_bind_int64(st, 3, (int64_t)max);
    return get_all(q, st, (read_fn)read_audit, sizeof **out, (void **)out, n, "the audit log", err);
}

static int sq_audit_prune(yun_store *s, int64_t before_ms, int64_t *removed, yun_err *err)
{
    sq_store *q = SQ(s);
    AUTORESET sql_stmt *st = job_prepare(q, "DELETE FROM audit WHERE at_ms < ?1", err);
    if (!st)
        return -1;
    sql_bind_int64(st, 1, before_ms);
    if (sql_step(st) != SQL_DONE)
        return db_fail(q, err, "pruning the audit log");
    if (removed)
        *removed = sql_changes(q->db);
    return 0;
}

static int sq_copy_to(yun_store *s, const char *dest, yun_err *err)
{
    sq_store *q = SQ(s);
    sqlite3 *src = sql_sqlite(q->db);
    if (!src)
        return yun_err_set(err, YUN_E_INVALID,
                           "backing up a PostgreSQL store is PostgreSQL's job: use pg_dump (docs/operations.md)");
    if (access(dest, F_OK) == 0)
        return yun_err_set(err, YUN_E_CONFLICT, "backing up the store: %s exists", dest);
    sqlite3 *out = NULL;
    if (sqlite3_open_v2(dest, &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        yun_err_set(err, YUN_E_IO, "backing up the store to %s: %s", dest, out ? sqlite3_errmsg(out) : "no memory");
        sqlite3_close(out);
        return -1;
    }
    sqlite3_backup *b = sqlite3_backup_init(out, "main", src, "main");
    int rc = b ? SQLITE_OK : sqlite3_errcode(out);
    int64_t t0 = yun_mono_ms();
    /* in steps of 256 pages, so a writer waits for one step at most; a step that finds the source locked by a
     * writer is tried again until the busy timeout */
    while (b && (rc = sqlite3_backup_step(b, 256)) != SQLITE_DONE) {
        if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED || rc == SQLITE_OK) && yun_mono_ms() - t0 < 60000) {
            if (rc != SQLITE_OK)
                yun_sleep_ms(5);
            continue;
        }
        break;
    }
    if (b)
        sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        yun_err_set(err, YUN_E_STORE, "backing up the store to %s: %s", dest, sqlite3_errstr(rc));
        sqlite3_close(out);
        unlink(dest);
        return -1;
    }
    /* a file that stands alone: no -wal beside it */
    sqlite3_exec(out, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
    sqlite3_close(out);
    chmod(dest, 0600);
    return 0;
}

/* ---- open, migrate, close ---- */
static int too_new(sq_store *q, int v, yun_err *err)
{
    return yun_err_set(err, YUN_E_STORE,
                       "store %s has schema version %d, newer than version %d that this build of yun knows: "
                       "run a newer yund, or restore a backup made for this version",
                       q->path, v, STORE_SCHEMA_VERSION);
}

/* Brings the database to STORE_SCHEMA_VERSION, one transaction per migration. The version is re-read under
 * the write lock, so two processes opening a fresh database at once migrate it once. */
static int migrate(sq_store *q, yun_err *err)
{
    for (;;) {
        int v;
        if (sql_version_get(q->db, &v, err) < 0)
            return -1;
        if (v > STORE_SCHEMA_VERSION)
            return too_new(q, v, err);
        if (v == STORE_SCHEMA_VERSION)
            return 0;
        if (sql_begin_write(q->db) != SQL_OK)
            return db_fail(q, err, "migrating the store");
        if (sql_version_get(q->db, &v, err) < 0)
            goto fail;
        if (v != STORE_SCHEMA_VERSION) {
            if (v > STORE_SCHEMA_VERSION) {
                too_new(q, v, err);
                goto fail;
            }
            if (v == 0) {
                int64_t tables = -1;
                if (sql_table_count(q->db, &tables, err) < 0)
                    goto fail;
                if (tables != 0) {
                    yun_err_set(err, YUN_E_STORE,
                                "store %s already holds tables that yun did not make (schema version 0): "
                                "point yund at a new, empty database",
                                q->path);
                    goto fail;
                }
            }
            if (exec_sql(q, migrations[v], err) < 0 || sql_version_set(q->db, v + 1, err) < 0) {
                yun_err_prefix(err, "migrating store to schema version %d: ", v + 1);
                goto fail;
            }
            if (strcmp(q->path, ":memory:"))
                log_info("store %s: migrated schema to version %d", q->path, v + 1);
        }
        if (exec_sql(q, "COMMIT", err) < 0)
            goto fail;
    }
fail:
    if (sql_in_tx(q->db))
        sql_exec(q->db, "ROLLBACK");
    return -1;
}

static void sq_close(yun_store *s)
{
    sq_store *q = SQ(s);
    for (int i = 0; i < ST__COUNT; i++)
        sql_finalize(q->st[i]);
    for (int i = 0; i < SQ_JOB_STMTS; i++)
        sql_finalize(q->job_st[i].st);
    sql_close(q->db);
    free(q->path);
    free(q);
}

static int sq_schema_version(yun_store *s)
{
    int v = -1;
    yun_err err = YUN_ERR_INIT;
    sql_version_get(SQ(s)->db, &v, &err);
    return v;
}

static int sq_lead(yun_store *s, bool *leading, yun_err *err)
{
    return sql_try_lead(SQ(s)->db, leading, err);
}

static bool sq_shared(yun_store *s)
{
    return sql_is_pg(SQ(s)->db);
}

static const store_ops sql_ops = {
    .lead = sq_lead,
    .shared = sq_shared,
    .name = "sql", /* SQLite or PostgreSQL: sql.h says which */
    .close = sq_close,
    .schema_version = sq_schema_version,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .user_create = sq_user_create,
    .user_get = sq_user_get,
    .user_get_by_name = sq_user_get_by_name,
    .user_get_by_token_hash = sq_user_get_by_token_hash,
    .user_list = sq_user_list,
    .user_update = sq_user_update,
    .user_delete = sq_user_delete,
    .image_create = sq_image_create,
    .image_get = sq_image_get,
    .image_get_by_name = sq_image_get_by_name,
    .image_list = sq_image_list,
    .image_delete = sq_image_delete,
    .host_upsert = sq_host_upsert,
    .host_get = sq_host_get,
    .host_get_by_name = sq_host_get_by_name,
    .host_list = sq_host_list,
    .host_update = sq_host_update,
    .hosts_seen = sq_hosts_seen,
    .vm_create = sq_vm_create,
    .vm_get = sq_vm_get,
    .vm_get_by_name = sq_vm_get_by_name,
    .vm_get_by_uuid = sq_vm_get_by_uuid,
    .vm_list = sq_vm_list,
    .vm_each = sq_vm_each,
    .vm_page = sq_vm_page,
    .vm_count = sq_vm_count,
    .vm_update = sq_vm_update,
    .vm_delete = sq_vm_delete,
    .usage = sq_usage,
    .host_use = sq_host_use,
    .setting_get = sq_setting_get,
    .setting_set = sq_setting_set,
    .console_set = sq_console_set,
    .console_get = sq_console_get,
    .console_delete = sq_console_delete,
    .password_get = sq_password_get,
    .password_set = sq_password_set,
    .session_create = sq_session_create,
    .session_get = sq_session_get,
    .session_delete = sq_session_delete,
    .session_delete_user = sq_session_delete_user,
    .session_expire = sq_session_expire,
    .decision_add = sq_decision_add,
    .decision_list = sq_decision_list,
    .key_create = sq_key_create,
    .key_get = sq_key_get,
    .key_list = sq_key_list,
    .key_delete = sq_key_delete,
    .seed_set = sq_seed_set,
    .seed_get = sq_seed_get,
    .job_create = sq_job_create,
    .job_get = sq_job_get,
    .job_list = sq_job_list,
    .job_update = sq_job_update,
    .job_delete = sq_job_delete,
    .copy_to = sq_copy_to,
    .schedule_set = sq_schedule_set,
    .schedule_get = sq_schedule_get,
    .schedule_list = sq_schedule_list,
    .schedule_delete = sq_schedule_delete,
    .host_key_set = sq_host_key_set,
    .host_key_get = sq_host_key_get,
    .host_key_by_hash = sq_host_key_by_hash,
    .host_key_delete = sq_host_key_delete,
    .cluster_create = sq_cluster_create,
    .cluster_get_by_name = sq_cluster_get_by_name,
    .cluster_list = sq_cluster_list,
    .cluster_update = sq_cluster_update,
    .cluster_delete = sq_cluster_delete,
    .network_create = sq_network_create,
    .network_get = sq_network_get,
    .network_get_by_name = sq_network_get_by_name,
    .network_list = sq_network_list,
    .network_delete = sq_network_delete,
    .lease_add = sq_lease_add,
    .lease_get = sq_lease_get,
    .lease_list = sq_lease_list,
    .net_members = sq_net_members,
    .login_failure_get = sq_login_failure_get,
    .login_failure_set = sq_login_failure_set,
    .login_failure_delete = sq_login_failure_delete,
    .login_failure_prune = sq_login_failure_prune,
    .audit_add = sq_audit_add,
    .audit_list = sq_audit_list,
    .audit_prune = sq_audit_prune,
};

yun_store *store_sql_open(const char *target, yun_err *err)
{
    sql_db *db = sql_open(target, err);
    if (!db)
        return NULL;
    sq_store *q = xcalloc(1, sizeof *q);
    q->base.ops = &sql_ops;
    q->db = db;
    q->path = xstrdup(sql_target(db));
    q->base.queue_writes = !sql_is_pg(db); /* PostgreSQL queues writers itself (sql_begin_write) */
    if (migrate(q, err) < 0) {
        sq_close(&q->base);
        return NULL;
    }
    return &q->base;
}

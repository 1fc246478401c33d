/* placeholder while the module is written */
typedef int mp_placeholder_mp_shard;

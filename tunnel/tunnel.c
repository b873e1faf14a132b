/* tunnel/tunnel.c: being written (see the open issue) */
typedef int mc_unit_tunnel;

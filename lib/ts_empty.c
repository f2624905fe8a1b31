/* Intentionally empty: lets a stage library exist while its directory holds only main(). */
typedef int ts_empty_unit;

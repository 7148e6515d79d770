module bitcask

go 1.19

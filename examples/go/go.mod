module example.com/secure2fa

go 1.19

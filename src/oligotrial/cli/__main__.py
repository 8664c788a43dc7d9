from oligotrial.cli import main

main()
